package twiliofake_test

import (
	"net/url"
	"testing"

	"github.com/twilio/twilio-go/client"

	"github.com/corb-dev/corb/connectors/sms/twiliofake"
)

// Twilio's documented example (also twilio-go's own test).
func TestSignTwilioExample(t *testing.T) {
	params := url.Values{
		"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"},
		"Caller": {"+14158675309"}, "From": {"+14158675309"},
		"ReasonConferenceEnded": {"test"}, "Reason": {"Participant"},
	}
	got := twiliofake.Sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params)
	if want := "vOEb5UThFn24KEfnOFLQY2AE5FY="; got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

// What the fake signs, twilio-go's validator accepts, and nothing else.
func TestSignAcceptedByTwilioGo(t *testing.T) {
	const token = "s3cr3tT0ken"
	cases := []struct {
		name   string
		url    string
		params url.Values
	}{
		{"inbound sms", "https://corb.example.com/sms?x=1", url.Values{
			"MessageSid": {"SM0123"}, "From": {"+15550001"}, "To": {"+15005550006"},
			"Body": {"STATUS lobby — café ☕ & more=yes"}, "NumSegments": {"1"},
		}},
		{"no params (GET)", "https://corb.example.com/sms?From=%2B1555&Body=hi", nil},
		{"empty values", "http://localhost:8080/hook", url.Values{"Body": {""}, "MediaUrl0": {""}}},
		{"keys differing in case", "https://h/p", url.Values{"a": {"1"}, "B": {"2"}, "b": {"3"}}},
		{"port in URL", "https://corb.example.com:443/sms", url.Values{"Body": {"hi"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sig := twiliofake.Sign(token, c.url, c.params)
			v := client.NewRequestValidator(token)
			flat := map[string]string{}
			for k, vs := range c.params {
				flat[k] = vs[0]
			}
			if !v.Validate(c.url, flat, sig) {
				t.Errorf("Validate refused %q", sig)
			}
			if !v.ValidateBody(c.url, []byte(c.params.Encode()), sig) {
				t.Errorf("ValidateBody refused %q", sig)
			}
			if other := client.NewRequestValidator(token + "x"); other.Validate(c.url, flat, sig) {
				t.Error("another token's validator accepted it")
			}
			tampered := map[string]string{"Body": "tampered"}
			for k, v := range flat {
				tampered[k] = v + "!"
			}
			if v.Validate(c.url, tampered, sig) {
				t.Error("tampered params accepted")
			}
		})
	}
}

// Twilio's libraries sign every distinct value of a repeated key, sorted.
func TestSignRepeatedKey(t *testing.T) {
	a := twiliofake.Sign("t", "https://h/p", url.Values{"k": {"2", "1", "2"}})
	b := twiliofake.Sign("t", "https://h/pk1k2", nil)
	if a != b {
		t.Fatalf("Sign with k=2,1,2 = %q, want the signature of URL+k1k2 %q", a, b)
	}
}
