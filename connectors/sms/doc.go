// Package sms is Corb's glue to Twilio's Programmable Messaging, without Kafka:
// what the `sms` operator kind and `corb sms serve` are built on.
//
//   - Segments and Count: how a body is encoded (GSM-7 or UCS-2), how many
//     segments Twilio bills for it, and how a long body is split on word
//     boundaries into parts of one segment each.
//   - Sender, with two drivers: Twilio (twilio-go, with retries that honour
//     Retry-After and classify Twilio's errors) and Console (prints, for
//     `corb dev`). FindSent asks the driver whether a message was already
//     sent, so a sender that crashed between sending and recording the result
//     never texts twice.
//   - Validator: the X-Twilio-Signature check of inbound webhooks, against the
//     public URL Twilio called rather than the one a proxy forwarded.
//
// The package twiliofake beside it serves the same part of Twilio's REST API
// for tests and the demo.
package sms
