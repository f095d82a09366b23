// Package httpapi is the HTTP face of package queue: order systems in any
// language enqueue label requests and read their status over it, and
// operators drain the dead-letter queue with it. `flexlabel serve` runs it.
//
// New builds a Handler from a *queue.Queue. Its routes live in one table
// (routes.go) that both the mux and the OpenAPI test read, so the published
// document (GET /openapi.yaml, embedded from openapi.yaml) cannot drift from
// what is served. Enqueues use the interactive lane.
//
// Every route but /healthz, /readyz and /openapi.yaml needs a token:
// "Authorization: Bearer <token>", or HTTP basic auth whose password is the
// token (so a browser can log in). Each route of the table names the scopes
// of which the token needs one (auth.Producer, auth.Viewer, auth.Operator;
// auth.Public for none), and openapi.yaml says the same in
// x-flexlabel-scope. An unknown token is 401; a known one lacking the scope
// 403 naming it. The token resolves (by its SHA-256, in an auth.Set that
// serve's auth.Watcher swaps on reload) to an auth.Principal that the
// request's context carries, so a handler mounted with Handle (metrics, the
// console) decides per request; a producer limited to key prefixes is
// checked by the label routes, each foreign item of a batch refused alone.
//
// The label and dead-letter routes act on one Flex Forward account's jobs
// (docs/ACCOUNTS.md): the one the Flexlabel-Account header names, or the
// default account (Config.Queue, its keys as in a single-account setup)
// without it. accounts.go resolves the header once per request to the
// account's queue.Queue, refusing a malformed name (400), an account the
// token is not bound to (403, auth.Principal.CheckAccount, before Redis is
// asked) and one the fleet's workers do not run (400,
// queue.Queue.CheckAccount); what it learns of an account is trusted for
// 2 s, so a request seldom pays a round trip for it.
//
// Nothing state-changing is accepted from a page on another site: every
// request first passes net/http's CrossOriginProtection (Sec-Fetch-Site,
// Origin), console included; the label routes require a JSON (or NDJSON)
// Content-Type, and the bodyless actions refuse the types an HTML form can
// send, which covers browsers that send neither header.
//
// Status codes of POST /v1/labels follow the queue's outcome: 202 enqueued,
// 200 duplicate (same key, same request), 409 conflict (same key, other
// request), 400 invalid, 422 dead. The body is always the queue.Result, so a
// client reads one shape whatever the code. A dead key is 422 rather than 409
// because the request is the very one already stored — nothing conflicts —
// but it cannot be processed until an operator redrives or discards the dead
// letter; the body's deadLetter says why it died. Redis being unreachable is
// 503 with Retry-After, which a client retries with the same body: enqueue is
// idempotent.
//
// A key in a path is one path segment, percent-encoded (a '/' in a key is
// %2F, and keys "." and ".." must be sent as %2E and %2E%2E, which clients
// that encode only reserved characters leave alone). GET /v1/labels/{key}
// answers 404 with the status JSON (state "unknown") for an unknown key, so
// clients parse one shape there too.
//
// Operators manage webhook endpoints under /v1/webhook-endpoints (scope
// operator), a thin face of hooks.Endpoints (Config.Endpoints): bad fields
// are a 400 whose "details" name each, and the secret appears only in the
// answers of creation and rotate-secret. Without a signing key
// (Config.Endpoints nil) those routes answer 409 naming
// FLEXLABEL_WEBHOOK_SIGNING_KEY, since retrying cannot help.
//
// Every error is JSON with "error", including those net/http answers
// before a handler runs (a bad escape in the path, headers too large):
// serve wraps its listener in Listener, which swaps net/http's plain-text
// answers for JSON on the connection itself.
//
// Each request gets an id (X-Request-Id, used as sent if acceptable,
// replaced by a new one otherwise, never edited) echoed in the response
// and logged in one line with the route pattern, status, duration and the
// token's non-secret id (token_id) — never the Authorization header, the path's key or the body.
package httpapi
