package flexapi_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
)

// DecodeLabelRequest fills the struct from its own parse tree; it must give
// what encoding/json gives for every valid request.
func TestDecodeLabelRequest_SameAsEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		exampleJSON,
		`{"idempotencyKey":"k","courier":"c","service":{"productCode":"P"},"customs":{"b":[1,2.50,{"x":null}],"a":"<&>"},` +
			`"serviceOptions":[{"code":"SIG","value":{"level":2}},{"code":"INS","value":12.5}],"pickup":null,` +
			`"shipment":{"parcels":[{"weight":1e-3,"items":[{"quantity":3,"unitPrice":{"amount":0.1}}]},{"weight":2}]}}`,
	} {
		got, err := flexapi.DecodeLabelRequest([]byte(in))
		require.NoError(t, err)
		var want flexapi.LabelRequest
		require.NoError(t, json.Unmarshal([]byte(in), &want))
		for _, pair := range [][2]*json.RawMessage{{&got.Customs, &want.Customs}, {&got.Pickup, &want.Pickup}, {&got.DangerousGoods, &want.DangerousGoods}, {&got.CourierOptions, &want.CourierOptions}} {
			requireSameJSON(t, *pair[1], *pair[0])
			*pair[0], *pair[1] = nil, nil
		}
		for i := range want.ServiceOptions {
			requireSameJSON(t, want.ServiceOptions[i].Value, got.ServiceOptions[i].Value)
			want.ServiceOptions[i].Value, got.ServiceOptions[i].Value = nil, nil
		}
		require.Equal(t, want, *got)
	}
}

func requireSameJSON(t *testing.T, want, got json.RawMessage) {
	t.Helper()
	if len(want) == 0 || string(want) == "null" {
		require.True(t, len(got) == 0 || string(got) == "null", "got %s", got)
		return
	}
	require.JSONEq(t, string(want), string(got))
}

// A declared value of 0 is sent as 0, not dropped.
func TestDecodeLabelRequest_ZeroAmountKept(t *testing.T) {
	t.Parallel()
	in := `{"idempotencyKey":"k","courier":"c","service":{"productCode":"P"},"shipment":{"parcels":[{"weight":1,"items":[{"quantity":1,"unitPrice":{"amount":0,"currency":"USD"}}]}]}}`
	req, err := flexapi.DecodeLabelRequest([]byte(in))
	require.NoError(t, err)
	out, err := json.Marshal(req)
	require.NoError(t, err)
	require.Contains(t, string(out), `"unitPrice":{"amount":0,"currency":"USD"}`)
}
