package sms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"time"
)

// Console is the Sender of `corb dev`: it prints each message as
// "→ +15551230001 : body" to a writer instead of texting it. Create it with
// NewConsole.
type Console struct {
	mu sync.Mutex // one message a line, whoever sends
	w  io.Writer
}

// NewConsole prints to w.
func NewConsole(w io.Writer) *Console { return &Console{w: w} }

// Send prints m and returns a made-up MessageSid. It refuses what Twilio
// would (see Twilio.Send), so what works in dev works with Twilio; an error
// writing to w is transient.
func (c *Console) Send(ctx context.Context, m Message) (string, error) {
	if err := checkMessage(m); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := fmt.Fprintf(c.w, "→ %s : %s\n", m.To, m.Body); err != nil {
		return "", fmt.Errorf("sms: console: %w", err)
	}
	return "SM" + randomHex(16), nil
}

// FindSent finds nothing: the console keeps no record, and printing a
// message twice after a restart costs nothing.
func (c *Console) FindSent(context.Context, Message, time.Time) (Sent, bool, error) {
	return Sent{}, false, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24)
	return hex.EncodeToString(b)
}
