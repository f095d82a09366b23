// Package flexapitest is a fake Flex Forward API, faithful to the contract
// the flexapi package speaks, for tests (in-process over httptest, like
// net/http/httptest) and for development (the flexlabel fakeapi command).
//
// # The API
//
// Bearer tokens map to accounts (AddToken); idempotency keys, labels and
// order numbers are scoped per account. A missing or unknown token answers
// 401 {"error":"Unauthorized"}, a Forbid-den one 403 {"error":"Forbidden"};
// Revoke makes a token 401, Restore undoes both.
//
// POST /labels checks the body with flexapi.ParseLabelRequest, so unknown
// fields, wrong types and the documented rules (required fields, parcel
// weight > 0, ISO 3166-1 alpha-2 country codes) answer 400
// {"error":"Validation failed","details":[{"field","message"}]} with every
// problem at once, and nothing else is refused: a request without shipFrom,
// dimensions or contacts makes a label. A 400 does not use up the key. The first valid call of a key
// answers 201 with a new label; every later call answers 200 with the same
// label and creates nothing. Trigger product codes give failures instead:
// RejectProductCode ("REJECT") persists a failed label (502 with
// status "failed" and error COURIER_ERROR, then 200 with the same failed
// label on replay), and NoAccountProductCode ("NOACCOUNT") answers 404
// "Shipping account not found" without storing anything; InvalidProductCode
// ("INVALID") answers 400 with a detail, UnprocessableProductCode
// ("UNPROCESSABLE") 422 and UnavailableProductCode ("UNAVAILABLE") 500, every
// time and storing nothing. A wrong method on a
// known path answers 405, an unknown path 404.
//
// GET /labels/{id} takes a label UUID or the request's
// order.customerOrderNumber, or a comma-separated batch of them; the document
// URL points at /documents/{id}.pdf on the fake itself, served without a
// token. GET /tracking/{id} simulates the sandbox, a journey that starts
// when the label is created and progresses by its ship-to postal code:
// 90001 from InfoReceived through InTransit (picked up after 6 h) to
// Delivered (96 h), 90002 the same to Exception, 90003 InTransit forever,
// 90004 Cancelled (2 h), 90005 a tag flexapi does not know (6 h; Unknown to
// a client), any other InfoReceived. WithTrackingSpeedup or
// SetTrackingSpeedup divide the offsets (3600: an hour passes in a second). A label of another account answers 403. GET /products and
// GET /couriers answer small fixed lists (/products needs ?courier=).
//
// # Faults
//
// Faults are switched at run time, safely while calls are served, with Go
// methods (SetLatency, FailFirst, DropAfterCreate, SetRateLimit,
// SetAccountRateLimit, Force429,
// SetRetryAfterFormat, SetChaos, SetSeed, SetFaults, ClearFaults) or with
// the admin API. The order a call meets them in is: latency, then 429
// (forced, then rate limit, fleet-wide or per account), then routing (404/405), auth (401/403),
// validation (400), then for POST /labels a 500 (FailFirst, chaos), then the
// label (replay, 404 trigger, create), then a dropped connection
// (DropAfterCreate, chaos).
//
// # Ledger
//
// Ledger returns what the fake counted: calls in total and per second, POST
// /labels calls and labels created per idempotency key and per order,
// replays, statuses, drops and 429s, also per account. Tests assert on it:
// one HTTP attempt per client call, at most one label per order, a fleet's
// peak calls per second. Seen reports the request headers noticed (the last
// User-Agent, whether an Authorization header was present), never a token.
//
// # Admin API
//
// Unless WithoutAdmin is given, these paths are served without a token:
//
//	GET    /_fake/ledger         the Ledger as JSON
//	GET    /_fake/seen           the Seen headers as JSON
//	POST   /_fake/reset          forget labels, ledger, seen headers and faults (tokens stay); 204
//	POST   /_fake/reset?only=ledger   empty the ledger only; 204
//	GET    /_fake/faults         the current Faults as JSON
//	POST   /_fake/faults         change the fields given, keep the others; answers the result
//	DELETE /_fake/faults         turn every fault off
//	POST   /_fake/tokens         {"token":"…","account":"…","state":"active|forbidden|revoked"}
//
// The body of POST /_fake/faults uses the JSON names of Faults, durations as
// Go duration strings:
//
//	{"latency":"250ms", "failFirst":2, "dropAfterCreate":1,
//	 "rateLimit":10, "rateLimitRetryAfter":"1s", "accountRateLimit":10,
//	 "force429":3, "force429RetryAfter":"2s", "retryAfterFormat":"seconds|http-date|none",
//	 "chaos500":0.05, "chaosDrop":0.05, "seed":42}
//
// Setting failFirst or dropAfterCreate restarts their per-key counts.
package flexapitest
