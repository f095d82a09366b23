// Package opsui is the operator console: flexlabel's own pages under /ui/,
// where operators find a label, read why it failed, and redrive, discard or
// export dead letters, with asynq's queue monitor (asynqmon, read-only)
// beside it under /ui/queues/ for the raw queue view.
//
// The pages are server-rendered html/template (templates/, the CSS in the
// layout) with one small script (templates/console.js: the live counts,
// polled from GET /ui/counts, and the table's checkboxes); nothing is built.
// The landing page /ui/ shows the live counts, /ui/dead-letters the
// dead-letter queue with search by key or key prefix and filters by reason,
// queue and failure time, and /ui/label?key=K any key: its state, label,
// a completed label's tracking (its checkpoints newest first, or when its
// first poll is due), and for a dead one its failure history and request. GET /ui/export
// streams the current filter as `flexlabel dlq export` lines. With
// WithWebhooks, /ui/webhooks lists the webhook endpoints and links each
// one's delivery log and each event's deliveries (webhooks.go), operators
// only.
//
// Every page is one Flex Forward account's (account.go): ?account=NAME,
// absent the default account (a bound token's first), which every link and
// form carries; the header switches between the accounts the caller may
// see. Any well-formed name may be read, run by the fleet or not.
//
// Who sees what comes from the auth.Principal the API's authentication
// puts in each request's context: scope viewer reads the pages, without the
// requests' personal fields (redact.go); scope operator also sees those,
// asynqmon, the action forms and the export. A request without a principal
// gets 403; a token bound to accounts gets 403 for any other account and
// for the fleet-wide pages (asynqmon, the webhooks, the tokens).
//
// Actions (actions.go; the webhook ones, redeliver and enable or disable an
// endpoint, in webhooks.go through hooks' operations) go through the
// queue's dead-letter operations, which
// keep flexlabel's records and asynq's tasks consistent — asynqmon stays
// read-only for that reason. Each is an action form posting to a
// confirmation page with the dry-run count, whose form posts to /ui/act with
// a one-time confirmation; the act redirects to its result page. Every POST
// must carry the caller's CSRF token (an HMAC of its principal's id under a
// per-process key), so a cross-site form cannot act even in a browser that
// sends neither Origin nor Sec-Fetch-Site.
package opsui
