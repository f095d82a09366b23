package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// allProblemsLine has an unknown field, a weight of 0 and an alpha-3
// country code: a request with three things wrong.
func allProblemsLine(key string) []byte {
	b := queuetest.RequestJSON(key, "")
	b = bytes.Replace(b, []byte(`"courier":`), []byte(`"extra":true,"courier":`), 1)
	b = bytes.Replace(b, []byte(`"weight":0.5`), []byte(`"weight":0`), 1)
	return bytes.Replace(b, []byte(`"countryCode":"US"`), []byte(`"countryCode":"USA"`), 1)
}

var allProblemsDetails = []any{
	map[string]any{"field": "extra", "message": "unknown field"},
	map[string]any{"field": "shipment.shipTo.address.countryCode", "message": `must be an ISO 3166-1 alpha-2 code, got "USA"`},
	map[string]any{"field": "shipment.parcels[0].weight", "message": "must be greater than 0"},
}

func TestCLI_Enqueue_ShapeAndRuleProblems_AllInOneAnswer(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	r := c.run(t, string(allProblemsLine("all-enq")), "enqueue")
	require.Equal(t, exitRefused, r.code, r.stderr)
	got := lines(t, r.stdout)
	require.Len(t, got, 1)
	require.Equal(t, "invalid", got[0]["outcome"])
	require.Equal(t, "all-enq", got[0]["idempotencyKey"])
	require.Equal(t, allProblemsDetails, got[0]["details"])
	for _, want := range []string{"extra: unknown field", `countryCode: must be an ISO 3166-1 alpha-2 code, got "USA"`, "weight: must be greater than 0"} {
		require.Contains(t, got[0]["error"], want)
	}
	requireNothingWritten(t, c)
}

func TestCLI_Bulk_NDJSON_ShapeAndRuleProblems_AllInOneAnswer(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	path := filepath.Join(t.TempDir(), "orders.ndjson")
	require.NoError(t, os.WriteFile(path, append(allProblemsLine("all-nd"), '\n'), 0o600))
	r := c.run(t, "", "bulk", path, "--json")
	require.Equal(t, exitRefused, r.code, r.stderr)
	got := lines(t, r.stdout)
	require.Len(t, got, 2, "the row and the summary")
	require.Equal(t, "invalid", got[0]["outcome"])
	require.Equal(t, allProblemsDetails, got[0]["details"])

	// The human output says it all on the row's line too.
	r = c.run(t, "", "bulk", path)
	require.Equal(t, exitRefused, r.code, r.stderr)
	require.Contains(t, r.stdout, "extra: unknown field")
	require.Contains(t, r.stdout, `got "USA"`)
	require.Contains(t, r.stdout, "weight: must be greater than 0")
}

// In a CSV the shape is the header's and the cells' types: a cell that is
// no number is reported with the request's own problems.
func TestCLI_Bulk_CSV_BadCellAndRuleProblems_AllInOneAnswer(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	path := filepath.Join(t.TempDir(), "orders.csv")
	require.NoError(t, os.WriteFile(path, []byte(
		"idempotencyKey,courier,service.productCode,shipment.shipTo.address.countryCode,shipment.parcels[0].weight,shipment.parcels[0].items[0].quantity\n"+
			"all-csv,yunexpress,HKMUZXR,USA,0,two\n"+
			"all-csv-2,yunexpress,HKMUZXR,USA,0,2\n"), 0o600))
	r := c.run(t, "", "bulk", path, "--json")
	require.Equal(t, exitRefused, r.code, r.stderr)
	got := lines(t, r.stdout)
	require.Len(t, got, 3, "two rows and the summary")
	require.Equal(t, "invalid", got[0]["outcome"])
	require.Equal(t, "all-csv", got[0]["idempotencyKey"])
	require.Equal(t, []any{
		map[string]any{"field": "shipment.parcels[0].items[0].quantity", "message": `"two" is not a number (want a whole number, e.g. 2)`},
		map[string]any{"field": "shipment.shipTo.address.countryCode", "message": `must be an ISO 3166-1 alpha-2 code, got "USA"`},
		map[string]any{"field": "shipment.parcels[0].weight", "message": "must be greater than 0"},
	}, got[0]["details"])
	require.Contains(t, got[0]["error"], `column 6 "shipment.parcels[0].items[0].quantity"`)
	require.Contains(t, got[0]["error"], "weight: must be greater than 0")
	require.Equal(t, []any{
		map[string]any{"field": "shipment.shipTo.address.countryCode", "message": `must be an ISO 3166-1 alpha-2 code, got "USA"`},
		map[string]any{"field": "shipment.parcels[0].weight", "message": "must be greater than 0"},
	}, got[1]["details"])
}

// No rule of the docs limits an idempotencyKey's characters, or asks for
// shipFrom: such requests are enqueued, not refused. The length bound is
// flexlabel's own (255 characters, queue.MaxKeyLen), tested in queue.
func TestCLI_Enqueue_WhatTheDocsAllow_Accepted(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	var in bytes.Buffer
	keys := []string{strings.Repeat("k", 255), strings.Repeat("é", 255), "ord\n1", "ord\u200b2", "ord\u007f3"}
	for _, k := range keys {
		quoted, err := json.Marshal(k)
		require.NoError(t, err)
		in.Write(badWithValue(t, queuetest.RequestJSON("x", ""), badPath{"idempotencyKey"}, string(quoted)))
		in.WriteByte('\n')
	}
	var doc map[string]any
	require.NoError(t, json.Unmarshal(queuetest.RequestJSON("no-ship-from", ""), &doc))
	delete(doc["shipment"].(map[string]any), "shipFrom")
	line, err := json.Marshal(doc)
	require.NoError(t, err)
	in.Write(line)
	r := c.run(t, in.String(), "enqueue")
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	got := lines(t, r.stdout)
	require.Len(t, got, len(keys)+1)
	for i, k := range keys {
		require.Equal(t, "enqueued", got[i]["outcome"], "%q", k)
		require.Equal(t, k, got[i]["idempotencyKey"])
	}
	require.Equal(t, "enqueued", got[len(keys)]["outcome"])
}
