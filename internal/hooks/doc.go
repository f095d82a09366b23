// Package hooks is flexlabel's side of webhooks: the endpoints operators
// subscribe (endpoints.go, keyring.go) and the delivery of events to them.
//
// Endpoints keeps the subscriptions in Redis under the queue's namespace:
// a set of ids, a hash per endpoint, and a marker key that exists while any
// endpoint does, so that the store's scripts record events only then. The
// HTTP API and `flexlabel webhooks` are its front ends; deliveries ask it for
// the endpoints matching an event (Matching), for one endpoint's URL and
// secrets (Target), and disable an endpoint that keeps failing (Disable).
//
// No signing secret is stored. A Keyring derives each endpoint's secret from
// FLEXLABEL_WEBHOOK_SIGNING_KEY, the endpoint's id and a generation number
// Redis keeps; rotating a secret starts a new generation and keeps the one
// before valid for a while, so a delivery is signed with both meanwhile.
package hooks
