// Package flexapi is a typed client for the Flex Forward shipping-label API.
//
// The request types mirror the documented JSON exactly. DecodeLabelRequest
// parses a producer's JSON strictly (unknown fields and wrong types are
// reported with the API's own field paths), and LabelRequest.Validate applies
// the rules the docs state and no others (docs/FLEXFORWARD_API.md), so a bad
// request is refused before it costs an API call. ParseLabelRequest does both
// and reports every problem of both in one answer; MergeDetails is how.
//
// Client makes exactly one HTTP attempt per call; retrying is the caller's
// business. Classify is the single place that decides what an outcome of
// CreateLabel means: Created, Transient (retry with the same key),
// RateLimited (wait; not a failure), or Permanent with a reason that is also
// the dead-letter reason.
//
// The bearer token is set in one place and never appears in String, LogValue
// or any error.
package flexapi
