// Package inbound is the inbound half of Corb's SMS connector, what `corb
// sms serve` runs: an http.Handler for Twilio's messaging webhook that turns
// texts into commands on the bus, and for Twilio's status callbacks, which
// become delivery receipts on the sms-status topic. It writes through a
// Producer (KafkaProducer on a real cluster), so it is tested without Kafka.
//
// # A webhook
//
//   - The X-Twilio-Signature is checked against the configured public URL
//     (behind a proxy the server sees another scheme and host); missing or
//     wrong: 403, nothing produced. The body is read within
//     sms.MaxWebhookBody (64 KiB, else 413) before anything parses it.
//   - Twilio is answered within Config.Timeout (1s): 200 with an empty TwiML
//     <Response/>, once what the text asks for is on the bus; 503 when the
//     produce fails or does not finish in time, so that Twilio retries.
//     Replies are never TwiML: they are send_sms commands, sent by sms-out.
//   - The text is parsed by connectors/sms/intent against the zones, and the
//     sender looked up in the directory (reloaded on change): staff may
//     STATUS, SUBSCRIBE, NOTIFY, UNSUBSCRIBE and CLEAN; cleaners DONE (their
//     zones) and STATUS; admins all; everybody HELP. STOP and its synonyms
//     (opt_out) and START (opt_in) are honoured for everybody and never rate
//     limited, as carriers require. A sender not in the directory gets one
//     polite line that names nothing of the building, at most once per
//     Config.StrangerEvery; a known sender over its rate gets one "slow
//     down", then silence; a text the parser cannot act on gets a reply
//     saying why (with the parser's suggestion: "did you mean Lobby?").
//
// # Once per MessageSid
//
// Every command's id follows the id rule (schemas.Command): the inbound
// command of a text is schemas.NewCommand(type, Cause{SMS, MessageSid}); a
// text about several zones becomes one child of that notional command per
// zone (purpose "zone <id>", CorrelationID the inbound id); the connector's
// own reply is its child "reply", the id a handler's reply would have. So
// Twilio's retries of one text yield the same ids.
//
// A retry is also produced only once while the connector remembers it: the
// last Config.Recent MessageSids (and status callbacks, by MessageSid and
// status) are kept, and a retry arriving while the first delivery is still
// being produced waits for its outcome. What this cannot cover — a restart,
// an eviction, a produce that timed out but landed after all, so that the
// retry lands again — leaves the same command twice on the bus under one id,
// and every consumer of the bus is idempotent by id. Delivery receipts are
// keyed by MessageSid, and a repeated (MessageSid, status) means nothing new.
package inbound
