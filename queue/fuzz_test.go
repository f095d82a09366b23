package queue_test

import (
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// FuzzParseLine checks the contract of ParseLine on arbitrary bytes: it never
// panics; it either returns a request that passes Validate and re-encodes
// with Canonical, whose payload parses back to the same canonical form, or a
// refusal with outcome invalid and a non-empty error. The committed corpus in
// testdata/fuzz/FuzzParseLine holds a valid request, a truncated one, an
// unknown field, a wrong type and a dead-letter export line.
func FuzzParseLine(f *testing.F) {
	valid := queuetest.RequestJSON("fuzz-1", "")
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte(`{"idempotencyKey":"k","_deadLetter":{"reason":"auth"},"courier":"c","service":{"productCode":"P"},"shipment":{"shipTo":{"address":{"countryCode":"US"}},"shipFrom":{"address":{"countryCode":"JP"}},"parcels":[{"weight":1}]}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		req, res := queue.ParseLine(line)
		if req == nil {
			require.NotNil(t, res, "ParseLine returned neither a request nor a refusal")
			require.Equal(t, queue.Invalid, res.Outcome)
			require.NotNil(t, res.Error)
			require.NotEmpty(t, *res.Error)
			return
		}
		require.Nil(t, res, "ParseLine returned a request and a refusal")
		// JSON text is UTF-8 (RFC 8259 §8.1). encoding/json would turn
		// invalid bytes into U+FFFD, silently changing a key or an address.
		require.True(t, utf8.Valid(line), "accepted a line that is not valid UTF-8: %q", line)
		require.NoError(t, req.Validate())
		payload, hash, err := queue.Canonical(req)
		require.NoError(t, err)
		require.NotEmpty(t, hash)

		// The payload a job carries is itself a valid line with the same
		// canonical form: a job re-enqueued from it (redrive, export) is
		// the same request, never a conflict.
		again, res := queue.ParseLine(payload)
		require.Nil(t, res, "canonical payload refused: %s", payload)
		payload2, hash2, err := queue.Canonical(again)
		require.NoError(t, err)
		require.Equal(t, string(payload), string(payload2))
		require.Equal(t, hash, hash2)
		require.Equal(t, req.IdempotencyKey, again.IdempotencyKey)
	})
}
