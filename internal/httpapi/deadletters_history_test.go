package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// deadLetterSchemaFields lists the properties openapi.yaml documents for a
// DeadLetter (its DeadLetterInfo part and its own), and for one history entry.
func deadLetterSchemaFields(t *testing.T) (fields, history map[string]bool) {
	t.Helper()
	b, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	type schema struct {
		AllOf      []schema `yaml:"allOf"`
		Ref        string   `yaml:"$ref"`
		Properties map[string]struct {
			Items struct {
				Properties map[string]any `yaml:"properties"`
			} `yaml:"items"`
		} `yaml:"properties"`
	}
	var doc struct {
		Components struct {
			Schemas map[string]schema `yaml:"schemas"`
		} `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal(b, &doc))
	fields, history = map[string]bool{}, map[string]bool{}
	var walk func(s schema)
	walk = func(s schema) {
		if s.Ref != "" {
			walk(doc.Components.Schemas[s.Ref[len("#/components/schemas/"):]])
		}
		for _, sub := range s.AllOf {
			walk(sub)
		}
		for name, p := range s.Properties {
			fields[name] = true
			if name == "history" {
				for h := range p.Items.Properties {
					history[h] = true
				}
			}
		}
	}
	walk(doc.Components.Schemas["DeadLetter"])
	return fields, history
}

func TestDeadLetters_Show_HistoryAndSupersededBy_AsDocumented(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	res, err := e.q.EnqueueLine(ctx, queuetest.RequestJSON("h/1", flexapitest.RejectProductCode), queue.Interactive)
	require.NoError(t, err)
	require.Equal(t, queue.Enqueued, res.Outcome)
	j := e.job("h/1", flexapitest.RejectProductCode) // attempt 1
	require.NoError(t, queuetest.Store(t, e.q).FailAttempt(ctx, j, store.Failure{HTTPStatus: 500, Message: "boom", Attempts: 1}))
	n := queuetest.Attempt(t, e.q, j)
	require.NoError(t, queuetest.Store(t, e.q).DeadLetter(ctx, j, store.Failure{Reason: queue.ReasonCourierRejected, HTTPStatus: 502, Message: "COURIER_ERROR: no", Attempts: n}))
	nk, err := e.q.DeadLetters().NewKeyLine(ctx, "h/1")
	require.NoError(t, err)

	r := e.do(http.MethodGet, keyPath("/v1/dead-letters/", "h/1"), nil)
	require.Equal(t, http.StatusOK, r.code)
	var got map[string]any
	r.json(t, &got)
	require.Equal(t, nk.NewKey, got["supersededBy"])
	require.NotEmpty(t, got["supersededAt"])
	hist, ok := got["history"].([]any)
	require.True(t, ok, "history is an array: %v", got["history"])
	require.Len(t, hist, 2)
	first := hist[0].(map[string]any)
	require.EqualValues(t, 500, first["httpStatus"])
	require.Equal(t, "boom", first["message"])
	require.EqualValues(t, 1, first["attempt"])
	require.NotEmpty(t, first["at"])

	fields, histFields := deadLetterSchemaFields(t)
	for k := range got {
		require.True(t, fields[k], "field %q of GET /v1/dead-letters/{key} is not in openapi.yaml's DeadLetter", k)
	}
	for k := range first {
		require.True(t, histFields[k], "history field %q is not in openapi.yaml's DeadLetter", k)
	}
	// The list stays as it was: one line per dead letter, no history.
	r = e.do(http.MethodGet, "/v1/dead-letters", nil)
	require.Equal(t, http.StatusOK, r.code)
	var page struct {
		DeadLetters []map[string]json.RawMessage `json:"deadLetters"`
	}
	r.json(t, &page)
	require.Len(t, page.DeadLetters, 1)
	require.NotContains(t, page.DeadLetters[0], "history")
}
