package flexapi

import (
	"bytes"
	"encoding/json"
	"testing"
)

// slowDecode is the full check alone, for comparison with the fast path.
func slowDecode(data []byte) (*LabelRequest, bool) {
	req, details := decodeFull(data)
	return req, req != nil && len(details) == 0
}

// FuzzDecodeFast_AgreesWithFullCheck: whatever the fast path accepts, the
// full check accepts too, with the same request (raw JSON compared as JSON).
func FuzzDecodeFast_AgreesWithFullCheck(f *testing.F) {
	f.Add([]byte(`{"idempotencyKey":"k","courier":"c","service":{"productCode":"P"},"shipment":{"parcels":[{"weight":1,"items":[{"quantity":2}]}]}}`))
	f.Add([]byte(`{"IdempotencyKey":"k"}`))
	f.Add([]byte(`{"idempotencyKey":"k","customs":{"Any":[1,{"x":2}]},"serviceOptions":[{"code":"A","value":{"b":1}}]}`))
	f.Add([]byte(`{"shipment":{"parcels":[{"items":[{"quantity":2147483648}]}]}}`))
	f.Add([]byte(`{"shipment":{"parcels":[{"items":[{"quantity":9223372036854775808},{"quantity":-9223372036854775809}]}]}}`))
	f.Add([]byte(`{"shipment":{"parcels":[{"weight":1e400}]}}`))
	f.Add([]byte(`{"idempotencyKey":"k"} {}`))
	f.Add([]byte(`{"idempotencyKey":"k","idempotencyKey":"j"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeFast(data)
		if !ok {
			return
		}
		slow, ok := slowDecode(data)
		if !ok {
			t.Fatalf("fast path accepted what the full check refuses: %q", data)
		}
		a, _ := json.Marshal(normalizeRaw(fast))
		b, _ := json.Marshal(normalizeRaw(slow))
		if !bytes.Equal(a, b) {
			t.Fatalf("fast and full decoding differ:\n%s\n%s", a, b)
		}
	})
}

// normalizeRaw re-encodes raw JSON fields so formatting differences vanish.
func normalizeRaw(r *LabelRequest) *LabelRequest {
	c := *r
	norm := func(m json.RawMessage) json.RawMessage {
		if len(m) == 0 {
			return nil
		}
		var v any
		if json.Unmarshal(m, &v) != nil {
			return m
		}
		if v == nil {
			return nil
		}
		out, _ := json.Marshal(v)
		return out
	}
	c.Customs, c.DangerousGoods, c.Pickup, c.CourierOptions = norm(c.Customs), norm(c.DangerousGoods), norm(c.Pickup), norm(c.CourierOptions)
	if c.ServiceOptions != nil {
		so := make([]ServiceOption, len(c.ServiceOptions))
		for i, o := range c.ServiceOptions {
			so[i] = ServiceOption{Code: o.Code, Value: norm(o.Value)}
		}
		c.ServiceOptions = so
	}
	return &c
}

func TestKnownNames_NoCaseCollisions(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"idempotencyKey", "courierOptions", "unitWeight", "streetLines", "platformOrderNumber"} {
		if _, ok := knownNames[n]; !ok {
			t.Fatalf("%s missing from knownNames", n)
		}
	}
	if _, ok := knownNames["IdempotencyKey"]; ok {
		t.Fatal("knownNames must hold exact spellings only")
	}
}
