package smsout

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// States of a send_sms in the sent log.
const (
	// StateAttempt: about to be handed to Twilio, result not recorded. It
	// is journaled before the call, outside the batch's transaction, so
	// that it outlives a crash or an abort; a send_sms found in this state
	// is reconciled against Twilio's own list before it is sent again.
	StateAttempt = "attempt"
	// StateSent: Twilio accepted it, with Sid; it is never sent again.
	// Written with the batch that sent it, or when reconciling found it.
	StateSent = "sent"
)

// Entry is one record of the sent log (the state topic, sms-sent; key =
// the command id, JSON).
type Entry struct {
	ID         string    `json:"id"`          // the send_sms command's id
	State      string    `json:"state"`       // StateAttempt or StateSent
	To         string    `json:"to"`          // the recipient, E.164
	BodySHA256 string    `json:"body_sha256"` // lowercase hex of the body's SHA-256: the body itself is not kept
	At         time.Time `json:"at"`          // when the attempt was journaled, or when Twilio accepted the text
	Sid        string    `json:"sid"`         // Twilio's MessageSid once sent; "" for an attempt
}

// bodyHash is Entry.BodySHA256 of body.
func bodyHash(body string) string {
	h := sha256.Sum256([]byte(body))
	return hex.EncodeToString(h[:])
}

// parseEntry reads a sent-log record.
func parseEntry(b []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return Entry{}, err
	}
	if e.State != StateAttempt && e.State != StateSent {
		return Entry{}, fmt.Errorf("state %q: want %s or %s", e.State, StateAttempt, StateSent)
	}
	return e, nil
}

func (e Entry) marshal() []byte {
	b, err := json.Marshal(e)
	if err != nil {
		panic(err) // strings and a time: cannot fail
	}
	return b
}
