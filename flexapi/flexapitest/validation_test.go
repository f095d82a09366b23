package flexapitest_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
)

// The fake refuses nothing the docs do not: a request in the docs' older
// minimal shape (no shipFrom, dimension, descriptionLocal, email or state)
// makes a label.
func TestServer_DocsMinimalShape_Created(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok)
	a := post(t, srv, tok, `{"idempotencyKey":"min-1","courier":"yunexpress","service":{"productCode":"HKMUZXR"},
		"shipment":{"shipTo":{"contact":{"firstName":"Alex","lastName":"Smith","phone":"8554377467"},
		  "address":{"streetLines":["18 Distribution Blvd"],"city":"Edison","postalCode":"08817","countryCode":"US"}},
		"parcels":[{"weight":0.5,"items":[{"descriptionEn":"Ink pen","quantity":1,"unitPrice":{"amount":29.99,"currency":"USD"},"unitWeight":0.5}]}]}}`)
	require.Equal(t, http.StatusCreated, a.status, "%s", a.raw)
	require.Equal(t, 1, srv.Ledger().CreatedPerKey["min-1"])

	track := call(t, http.MethodGet, srv.URL()+"/tracking/"+a.json(t)["id"].(string), tok, "")
	require.Equal(t, http.StatusOK, track.status, "tracking works without a shipFrom: %s", track.raw)
}

// Its 400 lists every problem at once, as the client's own check does.
func TestServer_ShapeAndRuleProblems_OneAnswer(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok)
	a := post(t, srv, tok, `{"idempotencyKey":"bad-1","courier":"yunexpress","service":{"productCode":"HKMUZXR"},"extra":1,
		"shipment":{"shipTo":{"address":{"countryCode":"USA"}},"parcels":[{"weight":0}]}}`)
	require.Equal(t, http.StatusBadRequest, a.status)
	require.JSONEq(t, `{"error":"Validation failed","details":[
		{"field":"extra","message":"unknown field"},
		{"field":"shipment.shipTo.address.countryCode","message":"must be an ISO 3166-1 alpha-2 code, got \"USA\""},
		{"field":"shipment.parcels[0].weight","message":"must be greater than 0"}]}`, string(a.raw))
	require.Zero(t, srv.Ledger().CreatedPerKey["bad-1"])
}
