package twiliofake

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Sign is Twilio's X-Twilio-Signature of a request to webhookURL with the
// POST parameters params: base64(HMAC-SHA1(authToken, URL + each parameter
// sorted by key, key + value)). The URL is the one called, query included,
// byte for byte. A key with several values contributes each distinct value
// in sorted order, as Twilio's own libraries compute it (twilio-go's
// validator reads only the first value of a key).
func Sign(authToken, webhookURL string, params url.Values) string {
	var b strings.Builder
	b.WriteString(webhookURL)
	for _, k := range slices.Sorted(maps.Keys(params)) {
		for _, v := range slices.Compact(slices.Sorted(slices.Values(params[k]))) {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// PostWebhook posts params as a form to webhookURL, signed as Twilio signs
// it, with Twilio's headers: X-Twilio-Signature, and I-Twilio-Idempotency-Token,
// which is the same for the same URL and parameters, as Twilio's is across its
// retries of one webhook. The caller closes the response body.
func PostWebhook(ctx context.Context, c *http.Client, authToken, webhookURL string, params url.Values) (*http.Response, error) {
	body := params.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(webhookURL + "?" + body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", Sign(authToken, webhookURL, params))
	req.Header.Set("I-Twilio-Idempotency-Token", hex.EncodeToString(sum[:16]))
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	return c.Do(req)
}
