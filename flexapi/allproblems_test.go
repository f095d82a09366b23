package flexapi_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
)

// minimalJSON is a request in the docs' older minimal shape: no shipFrom,
// dimension, descriptionLocal, email or state.
const minimalJSON = `{"idempotencyKey":"min-1","courier":"yunexpress","service":{"productCode":"HKMUZXR"},
 "shipment":{"shipTo":{"contact":{"firstName":"Alex","lastName":"Smith","phone":"8554377467"},
                       "address":{"streetLines":["18 Distribution Blvd"],"city":"Edison","postalCode":"08817","countryCode":"US"}},
             "parcels":[{"weight":0.5,"items":[{"descriptionEn":"Ink pen","quantity":1,
                         "unitPrice":{"amount":29.99,"currency":"USD"},"unitWeight":0.5}]}]}}`

func TestParseLabelRequest_DocsMinimalShape_Accepted(t *testing.T) {
	t.Parallel()
	req, err := flexapi.ParseLabelRequest([]byte(minimalJSON))
	require.NoError(t, err)
	require.Nil(t, req.Shipment.ShipFrom)
	require.Nil(t, req.Shipment.Parcels[0].Dimension)
}

// The issue's own example: a decoding problem no longer hides the rules.
func TestParseLabelRequest_UnknownFieldWeightZeroAlpha3_AllReported(t *testing.T) {
	t.Parallel()
	body := withJSON(t, "shipment.shipTo.address.countryCode", `"USA"`)
	body = withJSONIn(t, body, "shipment.parcels.weight", `0`)
	body = withJSONIn(t, body, "extra", `true`)
	_, err := flexapi.ParseLabelRequest(body)
	require.Equal(t, []flexapi.Detail{
		{Field: "extra", Message: "unknown field"},
		{Field: "shipment.shipTo.address.countryCode", Message: `must be an ISO 3166-1 alpha-2 code, got "USA"`},
		{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"},
	}, details(t, err))
	require.EqualError(t, err, `invalid label request: extra: unknown field; `+
		`shipment.shipTo.address.countryCode: must be an ISO 3166-1 alpha-2 code, got "USA"; `+
		`shipment.parcels[0].weight: must be greater than 0`)
}

func TestParseLabelRequest_ShapeAndRules_EveryProblemOnce(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		body string
		want []flexapi.Detail
	}{
		{"a wrong type is not also reported by the rule on it",
			`{"idempotencyKey":"k","courier":"c","service":{"productCode":"P"},"shipment":{"shipTo":{},"parcels":[{"weight":"1"},{"weight":0}]}}`,
			[]flexapi.Detail{
				{Field: "shipment.parcels[0].weight", Message: "must be a number, got a string"},
				{Field: "shipment.parcels[1].weight", Message: "must be greater than 0"},
			}},
		{"a wrong object covers the rules under it",
			`{"idempotencyKey":"k","courier":"c","service":"P","shipment":{"shipTo":[],"parcels":{"weight":1}}}`,
			[]flexapi.Detail{
				{Field: "service", Message: "must be an object, got a string"},
				{Field: "shipment.parcels", Message: "must be an array, got an object"},
				{Field: "shipment.shipTo", Message: "must be an object, got an array"},
			}},
		{"a parcel of the wrong type covers its weight",
			`{"idempotencyKey":"k","courier":"c","service":{"productCode":"P"},"shipment":{"shipTo":{},"parcels":["big"]}}`,
			[]flexapi.Detail{{Field: "shipment.parcels[0]", Message: "must be an object, got a string"}}},
		{"missing fields next to a wrong type",
			`{"courier":7,"shipment":{"shipFrom":{"address":{"countryCode":"XX","zip":"1"}},"parcels":[{"weight":-1}]}}`,
			[]flexapi.Detail{
				{Field: "courier", Message: "must be a string, got a number"},
				{Field: "shipment.shipFrom.address.zip", Message: "unknown field"},
				{Field: "idempotencyKey", Message: "is required"},
				{Field: "service", Message: "is required"},
				{Field: "shipment.shipTo", Message: "is required"},
				{Field: "shipment.shipFrom.address.countryCode", Message: `must be an ISO 3166-1 alpha-2 code, got "XX"`},
				{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"},
			}},
		{"a lone surrogate next to the rules",
			`{"idempotencyKey":"k\ud800","courier":"c","service":{"productCode":"P"},"shipment":{"shipTo":{},"parcels":[{"weight":0}]}}`,
			[]flexapi.Detail{
				{Message: `not valid JSON: lone UTF-16 surrogate \ud800 at byte 20`},
				{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"},
			}},
		{"not JSON: one problem alone", `{"courier":`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := flexapi.ParseLabelRequest([]byte(tc.body))
			require.Nil(t, req)
			got := details(t, err)
			if tc.want == nil {
				require.Len(t, got, 1)
				require.Contains(t, got[0].Message, "not valid JSON")
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// DecodeLabelRequest still reports the shape alone, and Validate the rules.
func TestDecodeLabelRequest_ShapeOnly(t *testing.T) {
	t.Parallel()
	body := withJSONIn(t, withJSON(t, "shipment.parcels.weight", `0`), "extra", `true`)
	req, err := flexapi.DecodeLabelRequest(body)
	require.Nil(t, req)
	require.Equal(t, []flexapi.Detail{{Field: "extra", Message: "unknown field"}}, details(t, err))
}

func TestMergeDetails(t *testing.T) {
	t.Parallel()
	shape := []flexapi.Detail{{Field: "shipment.parcels[1]", Message: "bad"}, {Message: "whole"}, {Field: "courier", Message: "bad"}}
	rules := []flexapi.Detail{
		{Field: "shipment.parcels[1].weight", Message: "covered"},
		{Field: "shipment.parcels[10].weight", Message: "kept: [10] is not under [1]"},
		{Field: "courier", Message: "covered"},
		{Field: "courierOptions", Message: "kept: not under courier"},
		{Field: "", Message: "kept"},
	}
	require.Equal(t, []flexapi.Detail{
		shape[0], shape[1], shape[2],
		{Field: "shipment.parcels[10].weight", Message: "kept: [10] is not under [1]"},
		{Field: "courierOptions", Message: "kept: not under courier"},
		{Field: "", Message: "kept"},
	}, flexapi.MergeDetails(shape, rules))
	require.Nil(t, flexapi.MergeDetails(nil, nil))
}
