package flexapi_test

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
)

// FuzzDecodeLabelRequest checks DecodeLabelRequest on arbitrary bytes: it
// never panics; a refusal is a *ValidationError with at least one detail,
// each with a message; an accepted request came from valid UTF-8 JSON, and
// re-encoding it gives JSON that decodes again to the same encoding (so a
// job's payload is always a request the API's own decoder accepts).
func FuzzDecodeLabelRequest(f *testing.F) {
	valid := `{"idempotencyKey":"ord-1","courier":"yunexpress","service":{"productCode":"HKMUZXR"},` +
		`"label":{"format":"PDF"},"units":{"weight":"KG","dimension":"CM"},` +
		`"order":{"customerOrderNumber":"N-1","orderNumbers":{"platformOrderNumber":"P-1","referenceNumbers":["R-1"]}},` +
		`"customs":{"b":[1, 2.50],"a":null},"serviceOptions":[{"code":"SIG","value":true}],` +
		`"shipment":{"shipTo":{"contact":{"firstName":"Alex","phone":"0855"},"address":{"streetLines":["18 Blvd"],"postalCode":"08817","countryCode":"US"}},` +
		`"shipFrom":{"address":{"countryCode":"JP"}},` +
		`"parcels":[{"weight":0.5,"dimension":{"length":30,"width":20,"height":10},"items":[{"descriptionLocal":"文具","quantity":1,"unitPrice":{"amount":29.99,"currency":"USD"}}]}]}}`
	f.Add([]byte(valid))
	f.Add([]byte(valid[:200]))
	f.Add([]byte(`{"idempotencyKey":"k","shipment":{"parcels":[{"weight":1e400,"items":[{"quantity":2147483648}]}]}}`))
	f.Add([]byte(`{"courier":1,"courier":"a"}`))
	f.Add([]byte(`{"service":[[{"productCode":"x"}]],"unknown":{"deep":[1]}}`))
	f.Add([]byte("{\"idempotencyKey\":\"k\xff\"}"))
	f.Add([]byte(`[] `))
	f.Add([]byte(`{"idempotencyKey":"k\ud83d\ude00\\ud800\ud800"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := flexapi.DecodeLabelRequest(data)
		if err != nil {
			require.Nil(t, req)
			var ve *flexapi.ValidationError
			require.True(t, errors.As(err, &ve), "%T: %v", err, err)
			require.NotEmpty(t, ve.Details)
			for _, d := range ve.Details {
				require.NotEmpty(t, d.Message)
			}
			return
		}
		require.NotNil(t, req)
		require.True(t, utf8.Valid(data), "accepted invalid UTF-8: %q", data)
		require.True(t, json.Valid(data), "accepted invalid JSON: %q", data)
		_ = req.Validate() // must not panic, whatever it finds

		enc, err := json.Marshal(req)
		require.NoError(t, err)
		again, err := flexapi.DecodeLabelRequest(enc)
		require.NoError(t, err, "re-encoded request refused: %s", enc)
		enc2, err := json.Marshal(again)
		require.NoError(t, err)
		require.Equal(t, string(enc), string(enc2))
	})
}

func TestDecodeLabelRequest_NotUTF8OrLoneSurrogate_Refused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"{\"idempotencyKey\":\"k\xff\"}", "not valid JSON: invalid UTF-8 at byte 20"},
		{"{\"courier\":\"\xe6\x96\"}", "not valid JSON: invalid UTF-8 at byte 12"},
		{`{"idempotencyKey":"k\ud800"}`, `not valid JSON: lone UTF-16 surrogate \ud800 at byte 20`},
		{`{"idempotencyKey":"k\uDC00x"}`, `not valid JSON: lone UTF-16 surrogate \uDC00 at byte 20`},
		{`{"idempotencyKey":"k\ud83d\u0041"}`, `not valid JSON: lone UTF-16 surrogate \ud83d at byte 20`},
	} {
		_, err := flexapi.DecodeLabelRequest([]byte(c.in))
		require.EqualError(t, err, "invalid label request: "+c.want, "%q", c.in)
	}
	// A surrogate pair, an escaped backslash before "u", and U+FFFD itself are fine.
	for in, key := range map[string]string{
		`{"idempotencyKey":"k\ud83d\ude00"}`: "k\U0001F600",
		`{"idempotencyKey":"k\\ud800"}`:      `k\ud800`,
		`{"idempotencyKey":"k\uFFFD"}`:       "k\uFFFD",
	} {
		req, err := flexapi.DecodeLabelRequest([]byte(in))
		require.NoError(t, err, in)
		require.Equal(t, key, req.IdempotencyKey)
	}
}

// FuzzParseLabelRequest checks that ParseLabelRequest says everything at
// once: its details start with every shape problem DecodeLabelRequest
// reports, and for a request of the right shape they are exactly Validate's.
func FuzzParseLabelRequest(f *testing.F) {
	f.Add([]byte(minimalJSON))
	f.Add([]byte(`{"idempotencyKey":"k","extra":1,"shipment":{"shipTo":{"address":{"countryCode":"USA"}},"parcels":[{"weight":0}]}}`))
	f.Add([]byte(`{"courier":7,"service":"P","shipment":{"parcels":["x",{"weight":"1"}]}}`))
	f.Add([]byte(`{"idempotencyKey":"k\ud800","shipment":{"parcels":[{"items":[{"quantity":1e3}]}]}}`))
	f.Add([]byte(`{"courier":`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := flexapi.ParseLabelRequest(data)
		decoded, decErr := flexapi.DecodeLabelRequest(data)
		if decErr != nil {
			require.Nil(t, req)
			shape := details(t, decErr)
			all := details(t, err)
			require.GreaterOrEqual(t, len(all), len(shape))
			require.Equal(t, shape, all[:len(shape)], "the shape problems come first, all of them")
			return
		}
		if vErr := decoded.Validate(); vErr != nil {
			require.Nil(t, req)
			require.Equal(t, details(t, vErr), details(t, err))
			return
		}
		require.NoError(t, err)
		require.Equal(t, decoded, req)
	})
}
