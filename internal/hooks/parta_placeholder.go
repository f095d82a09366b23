package hooks

// PLACEHOLDER for part A (endpoints.go defines these). Part C needs them to
// compile on its own branch; the coordinator deletes this file when joining
// part A, whose definitions are the same by the shared design.

import "errors"

// Target is one endpoint as delivery sees it. Secrets: the current secret
// first, then a rotated-out one still valid.
type Target struct {
	ID, URL string
	Secrets []string
	Enabled bool
}

// ErrNotFound: the endpoint does not exist.
var ErrNotFound = errors.New("hooks: not found")
