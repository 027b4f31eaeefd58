package inbound_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/corb-dev/corb/connectors/sms/inbound"
	"github.com/corb-dev/corb/connectors/sms/twiliofake"
	"github.com/corb-dev/corb/schemas"
)

// FuzzWebhook posts arbitrary bodies, queries and headers to both endpoints.
// Nothing panics; the answer is one the Handler documents; without a valid
// signature nothing is produced; with one (sign: the fuzzer's body signed as
// Twilio would sign its form), whatever is produced is a valid command on
// commands or a receipt on sms-status.
func FuzzWebhook(f *testing.F) {
	f.Add(form("SM1", staff, "STATUS lobby").Encode(), "", "", "application/x-www-form-urlencoded", false, false)
	f.Add(form("SM1", staff, "STATUS lobby").Encode(), "", "", "application/x-www-form-urlencoded", false, true)
	f.Add(form("SM2", stranger, "SUBSCRIBE kitchen vacated").Encode(), "", "", "", false, true)
	f.Add(form("SM3", admin, "CLEAN kitchen \xff spilled").Encode(), "", "a=1&b=%zz", "text/plain", false, true)
	f.Add(form("SM4", cleaner, "DONE kitchen lobby room 2").Encode(), "bodySHA256=00", "", "application/json", false, true)
	f.Add(statusForm("SM5", "undelivered", 30003).Encode(), "", "", "", true, true)
	f.Add("MessageSid=%ff&From=%00&Body=%", "", "", "", false, true)
	f.Add("MessageSid=SM6&MessageSid=SM7&From=%2B15550001&From=%2B15550003&Body=STOP", "", "", "", false, true)
	f.Add(strings.Repeat("Body=STATUS&", 6000), "", "", "", false, true)
	f.Fuzz(func(t *testing.T, body, query, sig, contentType string, status, sign bool) {
		hs := newHarness(t, nil)
		path := msgPath
		if status {
			path = hs.h.StatusPath()
		}
		target := path
		if query != "" {
			target += "?" + query
		}
		r, err := http.NewRequest(http.MethodPost, internalOrigin+target, strings.NewReader(body))
		if err != nil {
			t.Skip(err) // a query no client could send
		}
		r.Header.Set("Content-Type", contentType)
		if sign {
			params, _ := url.ParseQuery(body)
			sig = twiliofake.Sign(token, origin+r.URL.RequestURI(), params)
		}
		if sig != "" {
			r.Header.Set("X-Twilio-Signature", sig)
		}
		w := httptest.NewRecorder()
		hs.h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("answer %d %q", w.Code, w.Body)
		}
		if !sign && hs.p.calls != 0 {
			t.Fatalf("produced without a valid signature (%d)", w.Code)
		}
		if w.Code != http.StatusOK && hs.p.calls != 0 {
			t.Fatalf("answered %d after producing", w.Code)
		}
		for _, rec := range hs.p.records(commandsTopic) {
			c := &schemas.Command{}
			if err := schemas.Unmarshal(rec.Value, c); err != nil {
				t.Fatalf("not a command: %v", err)
			}
			if string(rec.Key) != c.Key() {
				t.Fatalf("command keyed %q", rec.Key)
			}
		}
		for _, rec := range hs.p.records(statusTopic) {
			var rc inbound.Receipt
			if err := json.Unmarshal(rec.Value, &rc); err != nil || rc.Sid != string(rec.Key) {
				t.Fatalf("receipt %q keyed %q: %v", rec.Value, rec.Key, err)
			}
		}
	})
}
