package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/flexlabel/flexlabel/flexapi"
)

// DeadLetterField is the top-level field `dlq export` adds to each line; the
// enqueue decoders strip it before the strict API decoding, so exported lines
// enqueue as they are.
const DeadLetterField = "_deadLetter"

// MaxKeyLen is the longest idempotencyKey flexlabel accepts, in characters.
// It is flexlabel's own bound, not a rule of the Flex Forward API (its docs
// give no limit, and flexapi checks none): a key names Redis keys, an asynq
// task ID and a URL path (GET /v1/labels/{key}), so it is bounded like a
// request body is (1 MiB). docs/FLEXFORWARD_API.md says which rules are ours.
const MaxKeyLen = 255

// Canonical returns the payload a job carries (the request re-encoded with
// undocumented objects normalised) and its hash. Two requests with the same
// canonical form are the same request.
func Canonical(req *flexapi.LabelRequest) (payload []byte, hash string, err error) {
	c := *req
	for _, raw := range []*json.RawMessage{&c.Customs, &c.DangerousGoods, &c.Pickup, &c.CourierOptions} {
		if *raw, err = canonicalRaw(*raw); err != nil {
			return nil, "", err
		}
	}
	if len(c.ServiceOptions) > 0 {
		opts := make([]flexapi.ServiceOption, len(c.ServiceOptions))
		copy(opts, c.ServiceOptions)
		for i := range opts {
			if opts[i].Value, err = canonicalRaw(opts[i].Value); err != nil {
				return nil, "", err
			}
		}
		c.ServiceOptions = opts
	}
	payload, err = json.Marshal(&c)
	if err != nil {
		return nil, "", fmt.Errorf("queue: encoding request: %w", err)
	}
	sum := sha256.Sum256(payload)
	return payload, hex.EncodeToString(sum[:16]), nil
}

// canonicalRaw re-encodes raw JSON with sorted object keys and no spaces.
func canonicalRaw(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return raw, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("queue: normalising raw JSON: %w", err)
	}
	if v == nil {
		return nil, nil
	}
	return json.Marshal(v)
}
