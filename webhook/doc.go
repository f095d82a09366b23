// Package webhook is the format of the events flexlabel pushes to order
// systems, and the rules for sending them safely.
//
// A receiver needs three things from it: Event, the JSON envelope every
// delivery carries; Verify (or VerifyRequest in a handler), which checks the
// Flexlabel-Signature header against the endpoint's secret and a tolerance
// window; and the errors Verify returns, which tell a missing header from a
// malformed one, a stale timestamp, and a signature that does not match.
//
// The scheme is Stripe's: the header is "t=TIMESTAMP,v1=HEXDIGEST", where
// TIMESTAMP is Unix seconds and HEXDIGEST is HMAC-SHA256, keyed with the
// secret exactly as shown ("whsec_…"), over TIMESTAMP, a dot, and the exact
// body bytes. During a secret rotation the header carries one v1 per valid
// secret, so a receiver holding either verifies. docs/WEBHOOKS.md has the
// same in Python and Node.
//
// The sender's side is Sign, NewSecret for endpoint creation, CheckURL for a
// subscription's destination (https, or http to loopback; no internal
// addresses unless allowed), and NewClient, an HTTP client that applies the
// address rule again to every IP it connects to, so a name that resolves to
// an internal address is refused at connect time, and that never follows a
// redirect. ReadLimited keeps a bounded piece of a receiver's answer for the
// delivery log.
//
// The package uses only the standard library, so a receiver importing it
// pulls in nothing else.
package webhook
