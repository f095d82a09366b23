package queue_test

import (
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// FuzzParseLine checks the contract of ParseLine on arbitrary bytes: it never
// panics; it either returns a request whose canonical payload passes Validate
// and parses back to the same canonical form, or a
// refusal with outcome invalid and a non-empty error. The committed corpus in
// testdata/fuzz/FuzzParseLine holds a valid request, a truncated one, an
// unknown field, a wrong type and a dead-letter export line.
func FuzzParseLine(f *testing.F) {
	valid := queuetest.RequestJSON("fuzz-1", "")
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte(`{"idempotencyKey":"k","_deadLetter":{"reason":"auth"},"courier":"c","service":{"productCode":"P"},"shipment":{"shipTo":{"address":{"countryCode":"US"}},"shipFrom":{"address":{"countryCode":"JP"}},"parcels":[{"weight":1}]}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		p := queue.ParseLine(line)
		if res := p.Refusal(); res != nil {
			require.Nil(t, queue.PayloadOf(p), "ParseLine returned a request and a refusal")
			require.Equal(t, queue.Invalid, res.Outcome)
			require.NotNil(t, res.Error)
			require.NotEmpty(t, *res.Error)
			return
		}
		require.NotEmpty(t, queue.PayloadOf(p), "ParseLine returned neither a request nor a refusal")
		// JSON text is UTF-8 (RFC 8259 §8.1). encoding/json would turn
		// invalid bytes into U+FFFD, silently changing a key or an address.
		require.True(t, utf8.Valid(line), "accepted a line that is not valid UTF-8: %q", line)
		payload := queue.PayloadOf(p)

		// The payload a job carries is itself a valid request with the
		// same canonical form: a job re-enqueued from it (redrive, export)
		// is the same request, never a conflict.
		req, err := flexapi.ParseLabelRequest(payload)
		require.NoError(t, err)
		require.NoError(t, req.Validate())
		payload2, hash, err := store.Canonical(req)
		require.NoError(t, err)
		require.NotEmpty(t, hash)
		require.Equal(t, string(payload), string(payload2))
		again := queue.ParseLine(payload)
		require.Nil(t, again.Refusal(), "canonical payload refused: %s", payload)
		require.Equal(t, string(payload), string(queue.PayloadOf(again)))
		require.Equal(t, p.Key(), again.Key())
		require.Equal(t, req.IdempotencyKey, again.Key())
	})
}
