package twiliofake_test

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/corb-dev/corb/connectors/sms/twiliofake"
)

// twilio-go pointed at the fake through its HTTP client.
func ExampleServer() {
	s, err := twiliofake.NewServer(twiliofake.Config{})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	c := &client.Client{Credentials: client.NewCredentials(s.AccountSid(), s.AuthToken()), HTTPClient: s.Client()}
	c.SetAccountSid(s.AccountSid())
	api := openapi.NewApiServiceWithClient(c)

	m, err := api.CreateMessage((&openapi.CreateMessageParams{}).
		SetTo("+15551230001").SetFrom(twiliofake.MagicFrom).SetBody("Kitchen is free again."))
	fmt.Println(*m.Status, *m.NumSegments, err)

	s.FailNext(twiliofake.Create, 1, twiliofake.TooManyRequests("2"))
	_, err = api.CreateMessage((&openapi.CreateMessageParams{}).
		SetTo("+15551230001").SetFrom(twiliofake.MagicFrom).SetBody("again"))
	var tre *client.TwilioRestError
	fmt.Println(errors.As(err, &tre), tre.Code, len(s.Sent()))
	// Output:
	// queued 1 <nil>
	// true 20429 1
}

func ExampleSign() {
	fmt.Println(twiliofake.Sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
		"From": {"+14158675309"}, "To": {"+18005551212"}, "ReasonConferenceEnded": {"test"}, "Reason": {"Participant"},
	}))
	// Output: vOEb5UThFn24KEfnOFLQY2AE5FY=
}
