package flexapi_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
)

// withJSON returns the example with path (dot-separated object keys) set to
// the raw JSON value, or removed when value is "".
func withJSON(t *testing.T, path, value string) []byte {
	t.Helper()
	return withJSONIn(t, []byte(exampleJSON), path, value)
}

// withJSONIn is withJSON on another body.
func withJSONIn(t *testing.T, body []byte, path, value string) []byte {
	t.Helper()
	var doc map[string]any
	require.NoError(t, json.Unmarshal(body, &doc))
	keys := strings.Split(path, ".")
	m := doc
	for _, k := range keys[:len(keys)-1] {
		switch next := m[k].(type) {
		case map[string]any:
			m = next
		case []any: // parcels / items: step into the first element
			m = next[0].(map[string]any)
		default:
			t.Fatalf("path %s: %s is not an object", path, k)
		}
	}
	last := keys[len(keys)-1]
	if value == "" {
		delete(m, last)
	} else {
		var v any
		require.NoError(t, json.Unmarshal([]byte(value), &v))
		m[last] = v
	}
	out, err := json.Marshal(doc)
	require.NoError(t, err)
	return out
}

func details(t *testing.T, err error) []flexapi.Detail {
	t.Helper()
	var ve *flexapi.ValidationError
	require.ErrorAs(t, err, &ve)
	return ve.Details
}

func TestDecodeLabelRequest_Example(t *testing.T) {
	t.Parallel()
	req, err := flexapi.DecodeLabelRequest([]byte(exampleJSON))
	require.NoError(t, err)
	require.NoError(t, req.Validate())
	require.Equal(t, "ord-20260527-0001", req.IdempotencyKey)
	require.Equal(t, "08817", req.Shipment.ShipTo.Address.PostalCode, "leading zero kept")
	require.Equal(t, "886900676877", req.Shipment.ShipFrom.Contact.Phone)
	require.Equal(t, 0.5, req.Shipment.Parcels[0].Weight)
	require.Equal(t, 1, req.Shipment.Parcels[0].Items[0].Quantity)
	require.Equal(t, "文具", req.Shipment.Parcels[0].Items[0].DescriptionLocal)
	require.Equal(t, []string{"R-1"}, req.Order.OrderNumbers.ReferenceNumbers)

	out, err := json.Marshal(req)
	require.NoError(t, err)
	require.Contains(t, string(out), `"postalCode":"08817"`)
	require.JSONEq(t, exampleJSON, string(out), "the example survives a round trip unchanged")
}

func TestDecodeLabelRequest_UndocumentedObjectsCarriedUntouched(t *testing.T) {
	t.Parallel()
	body := withJSON(t, "customs", `{"incoterm":"DDP","anything":[1,{"deep":null}]}`)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(body, &doc))
	doc["serviceOptions"] = []any{map[string]any{"code": "SIGNATURE", "value": map[string]any{"x": true}}}
	doc["dangerousGoods"] = map[string]any{"un": "UN3481"}
	doc["pickup"] = "tomorrow"
	doc["courierOptions"] = []any{1, 2}
	body, err := json.Marshal(doc)
	require.NoError(t, err)

	req, err := flexapi.ParseLabelRequest(body)
	require.NoError(t, err)
	require.JSONEq(t, `{"incoterm":"DDP","anything":[1,{"deep":null}]}`, string(req.Customs))
	require.JSONEq(t, `{"x":true}`, string(req.ServiceOptions[0].Value))
	require.JSONEq(t, `"tomorrow"`, string(req.Pickup))
	require.JSONEq(t, `[1,2]`, string(req.CourierOptions))
	require.JSONEq(t, `{"un":"UN3481"}`, string(req.DangerousGoods))
}

func TestDecodeLabelRequest_Refusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body []byte
		want []flexapi.Detail
	}{
		{"unknown top-level field", withJSON(t, "shipperAccountId", `"A1"`),
			[]flexapi.Detail{{Field: "shipperAccountId", Message: "unknown field"}}},
		{"removed service.shipperAccountId", withJSON(t, "service.shipperAccountId", `"A1"`),
			[]flexapi.Detail{{Field: "service.shipperAccountId", Message: "unknown field"}}},
		{"unknown nested field", withJSON(t, "shipment.shipTo.address.zip", `"08817"`),
			[]flexapi.Detail{{Field: "shipment.shipTo.address.zip", Message: "unknown field"}}},
		{"unknown field in a parcel", withJSON(t, "shipment.parcels.volume", `1`),
			[]flexapi.Detail{{Field: "shipment.parcels[0].volume", Message: "unknown field"}}},
		{"case matters", withJSON(t, "IdempotencyKey", `"k"`),
			[]flexapi.Detail{{Field: "IdempotencyKey", Message: "unknown field"}}},
		{"weight as a string", withJSON(t, "shipment.parcels.weight", `"0.5"`),
			[]flexapi.Detail{{Field: "shipment.parcels[0].weight", Message: "must be a number, got a string"}}},
		{"postal code as a number", withJSON(t, "shipment.shipTo.address.postalCode", `8817`),
			[]flexapi.Detail{{Field: "shipment.shipTo.address.postalCode", Message: "must be a string, got a number"}}},
		{"phone as a number", withJSON(t, "shipment.shipTo.contact.phone", `8554377467`),
			[]flexapi.Detail{{Field: "shipment.shipTo.contact.phone", Message: "must be a string, got a number"}}},
		{"fractional quantity", withJSON(t, "shipment.parcels.items.quantity", `1.5`),
			[]flexapi.Detail{{Field: "shipment.parcels[0].items[0].quantity", Message: "must be a whole number"}}},
		{"quantity as a boolean", withJSON(t, "shipment.parcels.items.quantity", `true`),
			[]flexapi.Detail{{Field: "shipment.parcels[0].items[0].quantity", Message: "must be a whole number, got a boolean"}}},
		{"parcels as an object", withJSON(t, "shipment.parcels", `{"weight":1}`),
			[]flexapi.Detail{{Field: "shipment.parcels", Message: "must be an array, got an object"}}},
		{"service as a string", withJSON(t, "service", `"HKMUZXR"`),
			[]flexapi.Detail{{Field: "service", Message: "must be an object, got a string"}}},
		{"reference number as a number", withJSON(t, "order.orderNumbers.referenceNumbers", `["R-1",2]`),
			[]flexapi.Detail{{Field: "order.orderNumbers.referenceNumbers[1]", Message: "must be a string, got a number"}}},
		{"street lines as a string", withJSON(t, "shipment.shipFrom.address.streetLines", `"Habucho"`),
			[]flexapi.Detail{{Field: "shipment.shipFrom.address.streetLines", Message: "must be an array, got a string"}}},
		{"number out of range", []byte(strings.Replace(exampleJSON, `"weight":0.5`, `"weight":1e400`, 1)),
			[]flexapi.Detail{{Field: "shipment.parcels[0].weight", Message: "number out of range"}}},
		{"every problem at once", []byte(`{"idempotencyKey":1,"courier":"yunexpress","extra":true,
			"service":{"productCode":["x"]},"shipment":{"parcels":[{"weight":"1"},{"weight":1,"oops":1}]}}`),
			[]flexapi.Detail{
				{Field: "extra", Message: "unknown field"},
				{Field: "idempotencyKey", Message: "must be a string, got a number"},
				{Field: "service.productCode", Message: "must be a string, got an array"},
				{Field: "shipment.parcels[0].weight", Message: "must be a number, got a string"},
				{Field: "shipment.parcels[1].oops", Message: "unknown field"},
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := flexapi.DecodeLabelRequest(tc.body)
			require.Nil(t, req)
			require.Equal(t, tc.want, details(t, err))
		})
	}
}

func TestDecodeLabelRequest_NotAnObject(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"":                       "not valid JSON",
		"not json":               "not valid JSON",
		`{"courier":`:            "not valid JSON",
		`[]`:                     "must be a JSON object",
		`null`:                   "must be a JSON object",
		`"x"`:                    "must be a JSON object",
		`{"courier":"x"} {}`:     "unexpected data after the object",
		`{"courier":"x"} x`:      "unexpected data after the object",
		`{"courier":"x"} ]`:      "unexpected data after the object",
		"{\"courier\":\"x\"}\n,": "unexpected data after the object",
	}
	for body, want := range cases {
		t.Run(body, func(t *testing.T) {
			t.Parallel()
			_, err := flexapi.DecodeLabelRequest([]byte(body))
			ds := details(t, err)
			require.Len(t, ds, 1)
			require.Empty(t, ds[0].Field)
			require.Contains(t, ds[0].Message, want)
		})
	}
	_, err := flexapi.DecodeLabelRequest([]byte("{\"courier\":\"x\"} \t\r\n"))
	require.NoError(t, err, "trailing whitespace is fine")
}

func TestDecodeLabelRequest_NullMeansAbsent(t *testing.T) {
	t.Parallel()
	req, err := flexapi.DecodeLabelRequest(withJSON(t, "order", `null`))
	require.NoError(t, err)
	require.Nil(t, req.Order)
	require.NoError(t, req.Validate(), "order is optional")
}

func TestValidate(t *testing.T) {
	t.Parallel()
	type mutate func(r *flexapi.LabelRequest)
	cases := []struct {
		name   string
		mutate mutate
		want   []flexapi.Detail
	}{
		{"valid", func(*flexapi.LabelRequest) {}, nil},
		{"key of 255 characters", func(r *flexapi.LabelRequest) { r.IdempotencyKey = strings.Repeat("é", 255) }, nil},
		{"key with spaces and punctuation", func(r *flexapi.LabelRequest) { r.IdempotencyKey = "ord 2025/03:01#abc" }, nil},
		{"key missing", func(r *flexapi.LabelRequest) { r.IdempotencyKey = "" },
			[]flexapi.Detail{{Field: "idempotencyKey", Message: "is required"}}},
		// No rule of the docs limits the key's length or characters.
		{"key of 256 characters", func(r *flexapi.LabelRequest) { r.IdempotencyKey = strings.Repeat("k", 256) }, nil},
		{"key with a newline and a tab", func(r *flexapi.LabelRequest) { r.IdempotencyKey = "ord\n1\t2" }, nil},
		{"key not UTF-8", func(r *flexapi.LabelRequest) { r.IdempotencyKey = "ord\xff1" },
			[]flexapi.Detail{{Field: "idempotencyKey", Message: "must be valid UTF-8"}}},
		{"product code missing", func(r *flexapi.LabelRequest) { r.Service.ProductCode = "" },
			[]flexapi.Detail{{Field: "service.productCode", Message: "is required"}}},
		{"lower-case country", func(r *flexapi.LabelRequest) { r.Shipment.ShipTo.Address.CountryCode = "us" },
			[]flexapi.Detail{{Field: "shipment.shipTo.address.countryCode", Message: `must be an ISO 3166-1 alpha-2 code, got "us"`}}},
		{"alpha-3 country", func(r *flexapi.LabelRequest) { r.Shipment.ShipFrom.Address.CountryCode = "JPN" },
			[]flexapi.Detail{{Field: "shipment.shipFrom.address.countryCode", Message: `must be an ISO 3166-1 alpha-2 code, got "JPN"`}}},
		{"unassigned country", func(r *flexapi.LabelRequest) { r.Shipment.ShipTo.Address.CountryCode = "XX" },
			[]flexapi.Detail{{Field: "shipment.shipTo.address.countryCode", Message: `must be an ISO 3166-1 alpha-2 code, got "XX"`}}},
		// The docs' older minimal example has none of these: optional.
		{"country missing", func(r *flexapi.LabelRequest) { r.Shipment.ShipTo.Address.CountryCode = "" }, nil},
		{"address missing", func(r *flexapi.LabelRequest) { r.Shipment.ShipTo.Address = nil }, nil},
		{"ship-from missing", func(r *flexapi.LabelRequest) { r.Shipment.ShipFrom = nil }, nil},
		{"ship-from address missing", func(r *flexapi.LabelRequest) { r.Shipment.ShipFrom.Address = nil }, nil},
		{"dimension, descriptionLocal, email and state missing", func(r *flexapi.LabelRequest) {
			r.Shipment.Parcels[0].Dimension = nil
			r.Shipment.Parcels[0].Items[0].DescriptionLocal = ""
			r.Shipment.ShipTo.Contact.Email = ""
			r.Shipment.ShipTo.Address.State = ""
		}, nil},
		{"parcel without items", func(r *flexapi.LabelRequest) { r.Shipment.Parcels[0].Items = nil }, nil},
		{"ship-to missing", func(r *flexapi.LabelRequest) { r.Shipment.ShipTo = nil },
			[]flexapi.Detail{{Field: "shipment.shipTo", Message: "is required"}}},
		{"no parcels", func(r *flexapi.LabelRequest) { r.Shipment.Parcels = nil },
			[]flexapi.Detail{{Field: "shipment.parcels", Message: "must contain at least one parcel"}}},
		{"weights not positive", func(r *flexapi.LabelRequest) {
			r.Shipment.Parcels = []flexapi.Parcel{{Weight: 1}, {Weight: 0}, {Weight: -1}, {Weight: math.NaN()}}
		}, []flexapi.Detail{
			{Field: "shipment.parcels[1].weight", Message: "must be greater than 0"},
			{Field: "shipment.parcels[2].weight", Message: "must be greater than 0"},
			{Field: "shipment.parcels[3].weight", Message: "must be greater than 0"},
		}},
		{"service option without code", func(r *flexapi.LabelRequest) {
			r.ServiceOptions = []flexapi.ServiceOption{{Code: "A"}, {Value: json.RawMessage(`1`)}}
		}, nil},
		{"shipment without shipTo and parcels", func(r *flexapi.LabelRequest) { r.Shipment = &flexapi.Shipment{} },
			[]flexapi.Detail{
				{Field: "shipment.shipTo", Message: "is required"},
				{Field: "shipment.parcels", Message: "must contain at least one parcel"},
			}},
		{"both countries wrong", func(r *flexapi.LabelRequest) {
			r.Shipment.ShipTo.Address.CountryCode = "USA"
			r.Shipment.ShipFrom.Address.CountryCode = "jp"
		}, []flexapi.Detail{
			{Field: "shipment.shipTo.address.countryCode", Message: `must be an ISO 3166-1 alpha-2 code, got "USA"`},
			{Field: "shipment.shipFrom.address.countryCode", Message: `must be an ISO 3166-1 alpha-2 code, got "jp"`},
		}},
		{"everything missing at once", func(r *flexapi.LabelRequest) { *r = flexapi.LabelRequest{} },
			[]flexapi.Detail{
				{Field: "idempotencyKey", Message: "is required"},
				{Field: "courier", Message: "is required"},
				{Field: "service", Message: "is required"},
				{Field: "shipment", Message: "is required"},
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := example(t, "k-validate")
			tc.mutate(req)
			err := req.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Equal(t, tc.want, details(t, err))
		})
	}
}

func TestParseLabelRequest(t *testing.T) {
	t.Parallel()
	_, err := flexapi.ParseLabelRequest(withJSON(t, "extra", `1`))
	require.Equal(t, []flexapi.Detail{{Field: "extra", Message: "unknown field"}}, details(t, err))

	_, err = flexapi.ParseLabelRequest(withJSON(t, "shipment.parcels.weight", `0`))
	require.Equal(t, []flexapi.Detail{{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"}}, details(t, err))
	require.EqualError(t, err, "invalid label request: shipment.parcels[0].weight: must be greater than 0")

	_, err = flexapi.ParseLabelRequest([]byte("nope"))
	require.ErrorContains(t, err, "invalid label request: not valid JSON")
}

func TestIsCountryCode(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"US", "JP", "CN", "GB", "DE", "HK", "TW", "AX"} {
		require.True(t, flexapi.IsCountryCode(c), c)
	}
	for _, c := range []string{"", "us", "UK", "EU", "XX", "USA", "U"} {
		require.False(t, flexapi.IsCountryCode(c), c)
	}
}
