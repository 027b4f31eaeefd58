// Package dashboard is Corb's live web page: each camera's latest frame with
// its person boxes and the zone outlines drawn over it, each zone's state and
// count, a timeline of counts and events per zone, the dead-letter counts and
// the SMS conversation. It reads only Kafka topics (read_committed, without a
// consumer group), so it runs anywhere a broker is reachable, and holds
// nothing that cannot be read again.
//
// # What the page gets
//
// One server-sent-event stream, /events, carries everything (browsers allow
// six HTTP/1.1 connections per origin, so one stream serves every camera): a
// "snapshot" of the whole state first, on every connect, then "frame",
// "zone", "event", "dlq", "sms" and "status" events as records arrive, and a
// comment every Heartbeat so that proxies keep the stream open.
//
// A frame event carries the camera, a version and the boxes, not the JPEG:
// the page fetches /frames/{camera}?v=N when it is ready to draw, so a page
// that is busy, hidden or on a slow link skips versions instead of receiving
// every picture (base64 in the stream would add a third to every frame and
// queue them all). Each client has a bounded queue: pending frame events are
// coalesced to the newest per camera, and a client whose queue of other
// events overflows is sent a fresh snapshot instead; the Kafka reader never
// waits for a browser.
//
// Frames are shown with their own boxes: a frame waits (at most
// MaxWaitingFrames per camera, older ones thinned out) for the detections of
// its sequence number and capture time, and is shown when they arrive. A
// camera without detections for DetectWait (no detector running) shows its
// frames as they come, without boxes.
//
// # Access
//
// The handler is read-only (GET and HEAD). With a Token, every request must
// carry it: an Authorization: Bearer header, the cookie the page sets, or
// ?token= once in the address. Without one it answers only requests whose
// Host is a loopback name (no DNS rebinding); CheckListen refuses to serve a
// non-loopback address without a token.
//
// When the broker is unreachable, the page says so in a banner ("Kafka at …
// is unreachable since …; retrying"), rendered into the first page load and
// pushed over the stream as the state changes.
package dashboard
