package httpapi_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// allProblemsBody has an unknown field, a weight of 0 and an alpha-3
// country code; allProblems is what must be said about it, all at once.
func allProblemsBody(key string) []byte {
	b := queuetest.RequestJSON(key, "")
	b = bytes.Replace(b, []byte(`"courier":`), []byte(`"extra":true,"courier":`), 1)
	b = bytes.Replace(b, []byte(`"weight":0.5`), []byte(`"weight":0`), 1)
	return bytes.Replace(b, []byte(`"countryCode":"US"`), []byte(`"countryCode":"USA"`), 1)
}

var allProblems = []flexapi.Detail{
	{Field: "extra", Message: "unknown field"},
	{Field: "shipment.shipTo.address.countryCode", Message: `must be an ISO 3166-1 alpha-2 code, got "USA"`},
	{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"},
}

func TestCreateLabel_ShapeAndRuleProblems_AllInDetails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r, res := e.enqueue(allProblemsBody("all-1"))
	require.Equal(t, http.StatusBadRequest, r.code, "%s", r.body)
	require.Equal(t, queue.Invalid, res.Outcome)
	require.Equal(t, "all-1", res.IdempotencyKey)
	require.Equal(t, allProblems, res.Details)
}

func TestCreateLabels_Batch_ShapeAndRuleProblems_AllInDetails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, ct := range []string{"application/x-ndjson", "application/json"} {
		var body []byte
		if ct == "application/json" {
			body = append(append(append([]byte("["), allProblemsBody("all-arr")...), ','), append(queuetest.RequestJSON("ok-arr", ""), ']')...)
		} else {
			body = append(append(allProblemsBody("all-nd"), '\n'), queuetest.RequestJSON("ok-nd", "")...)
		}
		r := e.post("/v1/labels/batch", body, "Content-Type", ct)
		require.Equal(t, http.StatusOK, r.code, "%s", r.body)
		var got struct{ Results []queue.Result }
		r.json(t, &got)
		require.Len(t, got.Results, 2)
		require.Equal(t, queue.Invalid, got.Results[0].Outcome, ct)
		require.Equal(t, allProblems, got.Results[0].Details, ct)
		require.Equal(t, queue.Enqueued, got.Results[1].Outcome, ct)
	}
}

// A request in the docs' older minimal shape is enqueued, not refused.
func TestCreateLabel_DocsMinimalShape_Enqueued(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r, res := e.enqueue([]byte(`{"idempotencyKey":"min-1","courier":"yunexpress","service":{"productCode":"HKMUZXR"},
		"shipment":{"shipTo":{"contact":{"firstName":"Alex","lastName":"Smith","phone":"8554377467"},
		"address":{"streetLines":["18 Distribution Blvd"],"city":"Edison","postalCode":"08817","countryCode":"US"}},
		"parcels":[{"weight":0.5,"items":[{"descriptionEn":"Ink pen","quantity":1,"unitPrice":{"amount":29.99,"currency":"USD"},"unitWeight":0.5}]}]}}`))
	require.Equal(t, http.StatusAccepted, r.code, "%s", r.body)
	require.Equal(t, queue.Enqueued, res.Outcome)
}
