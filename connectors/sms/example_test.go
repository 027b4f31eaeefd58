package sms_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"

	"github.com/corb-dev/corb/connectors/sms"
	"github.com/corb-dev/corb/connectors/sms/twiliofake"
)

func ExampleSegments() {
	s, err := sms.Segments("Kitchen needs cleaning: 14 visits and 52 person-minutes since 08:10, past the policy of 10 visits. " +
		"Asked for by the usage policy. Reply DONE kitchen when it is done. Thank you!")
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Encoding, len(s.Parts))
	for _, p := range s.Parts {
		fmt.Printf("%q\n", p)
	}
	// Output:
	// GSM-7 2
	// "Kitchen needs cleaning: 14 visits and 52 person-minutes since 08:10, past the policy of 10 visits. Asked for by the usage policy. Reply DONE kitchen when"
	// "it is done. Thank you!"
}

func ExampleCount() {
	fmt.Println(sms.Count("Room 2 is free again."))
	fmt.Println(sms.Count("Room 2 is free again 🎉"))
	fmt.Println(sms.Count(strings.Repeat("a", 161)))
	// Output:
	// GSM-7 1
	// UCS-2 1
	// GSM-7 2
}

func ExampleConsole() {
	c := sms.NewConsole(os.Stdout)
	if _, err := c.Send(context.Background(), sms.Message{To: "+15551230001", Body: "Kitchen is free again."}); err != nil {
		panic(err)
	}
	// Output: → +15551230001 : Kitchen is free again.
}

// A Twilio sender pointed at the fake, configured from the environment.
func ExampleNewTwilioFromEnv() {
	fake, err := twiliofake.NewServer(twiliofake.Config{})
	if err != nil {
		panic(err)
	}
	defer fake.Close()
	env := map[string]string{
		"TWILIO_ACCOUNT_SID": fake.AccountSid(),
		"TWILIO_AUTH_TOKEN":  fake.AuthToken(),
		"TWILIO_FROM":        twiliofake.MagicFrom,
	}
	tw, err := sms.NewTwilioFromEnv(func(k string) string { return env[k] },
		sms.WithTransport(fake.Transport()), sms.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	fake.FailNext(twiliofake.Create, 1, twiliofake.ServerError()) // retried
	m := sms.Message{To: "+15551230001", Body: "Kitchen is free again."}
	sid, err := tw.Send(ctx, m)
	fmt.Println(sid[:2], err, len(fake.Sent()))

	found, ok, err := tw.FindSent(ctx, m, fake.Sent()[0].Created)
	fmt.Println(ok, found.Sid == sid, err)

	_, err = tw.Send(ctx, sms.Message{To: "+15005550001", Body: "hi"})
	fmt.Println(err)
	// Output:
	// SM <nil> 1
	// true true <nil>
	// sms: refused with code 21211 (HTTP 400): invalid To number: The 'To' number +15005550001 is not a valid phone number.
}

func ExampleValidator() {
	const token, public = "t0ken", "https://corb.example.com/sms"
	v, err := sms.NewValidator(token, public)
	if err != nil {
		panic(err)
	}
	params := url.Values{"MessageSid": {"SM1"}, "From": {"+15550001"}, "Body": {"STATUS lobby"}}
	// Twilio called the public URL; the proxy forwarded it to 10.0.0.7:8080.
	r := httptest.NewRequest(http.MethodPost, "http://10.0.0.7:8080/sms", strings.NewReader(params.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Twilio-Signature", twiliofake.Sign(token, public, params))
	got, err := v.Validate(r)
	fmt.Println(got.Get("Body"), err)

	r.Header.Del("X-Twilio-Signature")
	_, err = v.Validate(r)
	fmt.Println(err)
	// Output:
	// STATUS lobby <nil>
	// sms: webhook has no X-Twilio-Signature
}
