package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// The console's selections in the API (issue 14, parity): a filter by
// reason, key prefix, queue and failure time on the list, the actions and
// the export, and actions on a body of named keys.

// deadLetterIn is deadLetter on a lane of choice.
func (e *env) deadLetterIn(key string, reason queue.Reason, lane queue.Lane) {
	e.t.Helper()
	res, err := e.q.EnqueueLine(context.Background(), queuetest.RequestJSON(key, ""), lane)
	require.NoError(e.t, err)
	require.True(e.t, res.Outcome.Accepted(), res.Outcome)
	j := queuetest.Job(e.t, e.q, key, "", lane)
	queuetest.Attempt(e.t, e.q, j)
	require.NoError(e.t, queuetest.Store(e.t, e.q).DeadLetter(context.Background(), j, store.Failure{
		Reason: reason, HTTPStatus: 400, Message: "Validation failed", Attempts: 1,
		Details: []flexapi.Detail{{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"}},
	}))
	queuetest.Dequeue(e.t, e.rdb, e.q.Name(lane), key)
}

// listKeys is the keys of GET /v1/dead-letters with query, and its total.
func (e *env) listKeys(query string) ([]string, int64) {
	e.t.Helper()
	r := e.do(http.MethodGet, "/v1/dead-letters"+query, nil)
	require.Equal(e.t, http.StatusOK, r.code, "%s: %s", query, r.body)
	var page struct {
		DeadLetters []queue.ListEntry `json:"deadLetters"`
		Total       int64             `json:"total"`
	}
	r.json(e.t, &page)
	keys := []string{}
	for _, d := range page.DeadLetters {
		keys = append(keys, d.IdempotencyKey)
	}
	return keys, page.Total
}

// filterEnv has dead letters of two prefixes, two reasons and both queues.
func filterEnv(t *testing.T) *env {
	e := newEnv(t)
	e.deadLetterIn("fa-1", queue.ReasonAuth, queue.Interactive)
	e.deadLetterIn("fa-2", queue.ReasonInvalid, queue.Interactive)
	e.deadLetterIn("fb-1", queue.ReasonAuth, queue.Bulk)
	e.deadLetterIn("zz-1", queue.ReasonAuth, queue.Interactive)
	return e
}

func TestDeadLetters_List_Filter(t *testing.T) {
	t.Parallel()
	e := filterEnv(t)
	for query, want := range map[string][]string{
		"":                               {"fa-1", "fa-2", "fb-1", "zz-1"},
		"?prefix=f":                      {"fa-1", "fa-2", "fb-1"},
		"?prefix=fa-1":                   {"fa-1"},
		"?queue=bulk":                    {"fb-1"},
		"?queue=interactive&reason=auth": {"fa-1", "zz-1"},
		"?prefix=f&reason=auth&queue=interactive":  {"fa-1"},
		"?since=2000-01-01T00:00:00Z":              {"fa-1", "fa-2", "fb-1", "zz-1"},
		"?until=2000-01-01":                        {},
		"?since=2000-01-01T00:00&until=2999-01-01": {"fa-1", "fa-2", "fb-1", "zz-1"},
	} {
		keys, total := e.listKeys(query)
		require.Equal(t, want, keys, query)
		require.EqualValues(t, len(want), total, "%s: total is the filter's", query)
	}
	// Pages of a filter: the cursor keeps it.
	r := e.do(http.MethodGet, "/v1/dead-letters?prefix=f&limit=2", nil)
	require.Equal(t, http.StatusOK, r.code)
	var page struct {
		NextCursor *string `json:"nextCursor"`
	}
	r.json(t, &page)
	require.NotNil(t, page.NextCursor)
	keys, total := e.listKeys("?prefix=f&limit=2&cursor=" + *page.NextCursor)
	require.Equal(t, []string{"fb-1"}, keys)
	require.EqualValues(t, 3, total)
}

// TestDeadLetters_Filter_DryRunCountsWhatIsThenDone: for each filter the
// dry run's count is what the action then does, and only the filter's
// dead letters are acted on.
func TestDeadLetters_Filter_DryRunCountsWhatIsThenDone(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		verb, query string
		want        int
		left        []string
	}{
		{"redrive", "?prefix=f&reason=auth", 2, []string{"fa-2", "zz-1"}},
		{"redrive", "?queue=bulk", 1, []string{"fa-1", "fa-2", "zz-1"}},
		{"discard", "?queue=interactive&prefix=fa", 2, []string{"fb-1", "zz-1"}},
		{"discard", "?since=2000-01-01&reason=auth", 3, []string{"fa-2"}},
		{"discard", "?until=2000-01-01", 0, []string{"fa-1", "fa-2", "fb-1", "zz-1"}},
	} {
		e := filterEnv(t)
		r := e.do(http.MethodPost, "/v1/dead-letters/"+c.verb+c.query+"&dryRun=true", nil)
		require.Equal(t, http.StatusOK, r.code, "%s %s: %s", c.verb, c.query, r.body)
		require.JSONEq(t, fmt.Sprintf(`{"dryRun":true,"matched":%d}`, c.want), string(r.body))
		left, _ := e.listKeys("")
		require.Len(t, left, 4, "a dry run does nothing")

		r = e.do(http.MethodPost, "/v1/dead-letters/"+c.verb+c.query, nil)
		require.Equal(t, http.StatusOK, r.code, "%s %s: %s", c.verb, c.query, r.body)
		past := map[string]string{"redrive": "redriven", "discard": "discarded"}[c.verb]
		require.JSONEq(t, fmt.Sprintf(`{%q:%d,"failed":0}`, past, c.want), string(r.body), "%s %s", c.verb, c.query)
		left, _ = e.listKeys("")
		require.Equal(t, c.left, left, "%s %s", c.verb, c.query)
	}
}

func TestDeadLetters_Export_Filter(t *testing.T) {
	t.Parallel()
	e := filterEnv(t)
	for query, want := range map[string][]string{
		"?prefix=fa":                     {"fa-1", "fa-2"},
		"?queue=bulk":                    {"fb-1"},
		"?reason=auth&queue=interactive": {"fa-1", "zz-1"},
		"?until=2000-01-01":              nil,
	} {
		r := e.do(http.MethodPost, "/v1/dead-letters/export"+query, nil)
		require.Equal(t, http.StatusOK, r.code, "%s: %s", query, r.body)
		var got []string
		for line := range strings.SplitSeq(strings.TrimSuffix(string(r.body), "\n"), "\n") {
			if line == "" {
				continue
			}
			var v struct {
				Key string `json:"idempotencyKey"`
			}
			require.NoError(t, json.Unmarshal([]byte(line), &v))
			got = append(got, v.Key)
		}
		require.Equal(t, want, got, query)
	}
	// The lines are queue's, filter and all.
	r := e.do(http.MethodPost, "/v1/dead-letters/export?prefix=f&reason=auth", nil)
	var b bytes.Buffer
	dl := e.q.DeadLetters()
	_, err := dl.ExportMatching(context.Background(), dl.Options(queue.Filter{KeyPrefix: "f", Reason: queue.ReasonAuth}), false, func(line []byte) error {
		b.Write(append(line, '\n'))
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, b.String(), string(r.body))
	require.Equal(t, 2, strings.Count(b.String(), "\n"))
}

// keysBody is a body of named keys.
func keysBody(keys ...string) *bytes.Reader {
	b, _ := json.Marshal(map[string][]string{"keys": keys})
	return bytes.NewReader(b)
}

func TestDeadLetters_Keys_PerKeyResults_AndDryRunCountsTheDeadOnes(t *testing.T) {
	t.Parallel()
	for _, verb := range []string{"redrive", "discard"} {
		e := filterEnv(t)
		past := map[string]string{"redrive": "redriven", "discard": "discarded"}[verb]
		body := func() *bytes.Reader { return keysBody("fa-1", "nope", "fa-1", "fb-1") }

		r := e.do(http.MethodPost, "/v1/dead-letters/"+verb+"?dryRun=true", body(), "Content-Type", "application/json")
		require.Equal(t, http.StatusOK, r.code, "%s: %s", verb, r.body)
		require.JSONEq(t, `{"dryRun":true,"matched":2}`, string(r.body), "of the named keys, two are dead")
		left, _ := e.listKeys("")
		require.Len(t, left, 4)

		r = e.do(http.MethodPost, "/v1/dead-letters/"+verb, body(), "Content-Type", "application/json")
		require.Equal(t, http.StatusOK, r.code, "%s: %s", verb, r.body)
		require.JSONEq(t, fmt.Sprintf(`{"results":[
			{"idempotencyKey":"fa-1","done":true},
			{"idempotencyKey":"nope","done":false,"error":"not in the dead-letter queue"},
			{"idempotencyKey":"fb-1","done":true}],%q:2,"failed":1}`, past), string(r.body), verb)
		left, _ = e.listKeys("")
		require.Equal(t, []string{"fa-2", "zz-1"}, left, verb)
		if verb == "redrive" {
			require.EqualValues(t, 1, e.pending(), "fa-1 is back on the interactive queue")
		}
	}
}

func TestDeadLetters_Filter_BadParameters_400NamingThem(t *testing.T) {
	t.Parallel()
	e := filterEnv(t)
	bad := map[string]string{
		"?reason=Auth":         "reason: unknown reason",
		"?queue=fast":          "queue: want interactive or bulk",
		"?since=yesterday":     "since: want a time",
		"?until=2026-13-01":    "until: want a time",
		"?prefix=f&queue=slow": "queue",
		"?since=x&until=y":     "since",
	}
	for query, want := range bad {
		for _, p := range []struct{ method, path string }{
			{http.MethodGet, "/v1/dead-letters"},
			{http.MethodPost, "/v1/dead-letters/redrive"},
			{http.MethodPost, "/v1/dead-letters/discard"},
			{http.MethodPost, "/v1/dead-letters/export"},
		} {
			r := e.do(p.method, p.path+query, nil)
			require.Equal(t, http.StatusBadRequest, r.code, "%s %s", p.path, query)
			require.True(t, strings.HasPrefix(r.errorMessage(t), want), "%s %s: %s", p.path, query, r.body)
		}
	}
	r := e.do(http.MethodGet, "/v1/dead-letters?since=x&until=y", nil)
	require.Contains(t, r.errorMessage(t), "until: want a time", "every bad parameter is named")

	long := strings.Repeat("k", queue.MaxKeyLen+1)
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprint("k", i)
	}
	for _, verb := range []string{"redrive", "discard"} {
		for _, c := range []struct {
			query string
			body  *bytes.Reader
			want  string
		}{
			{"?prefix=f&all=true", nil, "prefix and all=true exclude each other"},
			{"?queue=bulk&since=2000-01-01&all=true", nil, "queue, since and all=true exclude each other"},
			{"?reason=auth", keysBody("fa-1"), "keys: a body of keys excludes reason in the query"},
			{"?all=true", keysBody("fa-1"), "keys: a body of keys excludes all=true"},
			{"?prefix=f&all=true", keysBody("fa-1"), "keys: a body of keys excludes prefix, all=true"},
			{"", bytes.NewReader([]byte(`{"keys":[]}`)), "keys: give 1 to 1000 keys, got 0"},
			{"", bytes.NewReader([]byte(`{}`)), "keys: give 1 to 1000 keys"},
			{"", keysBody(many...), "keys: give 1 to 1000 keys, got 1001"},
			{"", keysBody("fa-1", ""), "keys[1]: must not be empty"},
			{"", keysBody("fa-1", long), "keys[1]: must be at most 255 characters"},
			{"", bytes.NewReader([]byte(`{"keys":"fa-1"}`)), "body: want {\"keys\""},
			{"", bytes.NewReader([]byte(`{"keys":["fa-1"],"all":true}`)), "body: want {\"keys\""},
			{"", bytes.NewReader([]byte(`["fa-1"]`)), "body: want {\"keys\""},
			{"", bytes.NewReader([]byte(`{"keys":["fa-1"]} {}`)), "body: want one JSON object"},
			{"?dryRun=true", bytes.NewReader([]byte(`{"keys":["fa-1"]`)), "body: want {\"keys\""},
		} {
			var r *response
			if c.body == nil {
				r = e.do(http.MethodPost, "/v1/dead-letters/"+verb+c.query, nil)
			} else {
				r = e.do(http.MethodPost, "/v1/dead-letters/"+verb+c.query, c.body, "Content-Type", "application/json")
			}
			require.Equal(t, http.StatusBadRequest, r.code, "%s %s", verb, c.query)
			require.True(t, strings.HasPrefix(r.errorMessage(t), c.want), "%s %s: %s", verb, c.query, r.body)
		}
		// Without any selection the error says every way to select.
		r := e.do(http.MethodPost, "/v1/dead-letters/"+verb, nil)
		require.Equal(t, http.StatusBadRequest, r.code)
		for _, s := range []string{"reason: required", "prefix, queue, since, until", `{"keys":[...]}`, "all=true to " + verb} {
			require.Contains(t, r.errorMessage(t), s)
		}
	}
	left, _ := e.listKeys("")
	require.Len(t, left, 4, "nothing was done")
	require.EqualValues(t, 0, e.pending())
}

// TestDeadLetters_Keys_ContentTypes: a body of keys needs application/json;
// without a body the route is bodyless (no Content-Type, or JSON); the
// types of HTML forms are refused either way.
func TestDeadLetters_Keys_ContentTypes(t *testing.T) {
	t.Parallel()
	e := filterEnv(t)
	const want = "Content-Type: must be application/json with a body, or none without one (the types of HTML forms are refused), got "
	for _, verb := range []string{"redrive", "discard"} {
		path := "/v1/dead-letters/" + verb
		for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/x-ndjson"} {
			r := e.do(http.MethodPost, path, keysBody("fa-1"), "Content-Type", ct)
			require.Equal(t, http.StatusUnsupportedMediaType, r.code, "%s %q: %s", verb, ct, r.body)
			got := "none"
			if ct != "" {
				got = fmt.Sprintf("%q", ct)
			}
			require.Equal(t, want+got, r.errorMessage(t))
		}
		r := e.do(http.MethodPost, path+"?all=true&dryRun=true", nil, "Content-Type", "multipart/form-data; boundary=x")
		require.Equal(t, http.StatusUnsupportedMediaType, r.code, "a form type without a body")
		for _, ct := range []string{"", "application/json"} {
			r = e.do(http.MethodPost, path+"?all=true&dryRun=true", nil, "Content-Type", ct)
			require.Equal(t, http.StatusOK, r.code, "%s bodyless with %q: %s", verb, ct, r.body)
		}
		r = e.do(http.MethodPost, path+"?dryRun=true", keysBody("fa-1"), "Content-Type", "application/json; charset=utf-8")
		require.Equal(t, http.StatusOK, r.code, "%s: %s", verb, r.body)
	}
	left, _ := e.listKeys("")
	require.Len(t, left, 4, "nothing was done")
}

// TestDeadLetters_Keys_ChunkedBody: a body of unknown length (chunked) is
// read as a body, and an empty one as none.
func TestDeadLetters_Keys_ChunkedBody(t *testing.T) {
	t.Parallel()
	e := filterEnv(t)
	// A reader of unknown length: the client sends it chunked.
	r := e.do(http.MethodPost, "/v1/dead-letters/redrive?dryRun=true", struct{ io.Reader }{keysBody("fa-1", "fb-1")}, "Content-Type", "application/json")
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	require.JSONEq(t, `{"dryRun":true,"matched":2}`, string(r.body))
	r = e.do(http.MethodPost, "/v1/dead-letters/redrive?dryRun=true", struct{ io.Reader }{keysBody("fa-1")})
	require.Equal(t, http.StatusUnsupportedMediaType, r.code, "a chunked body needs its Content-Type: %s", r.body)
	r = e.do(http.MethodPost, "/v1/dead-letters/redrive?all=true&dryRun=true", struct{ io.Reader }{strings.NewReader("")})
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	require.JSONEq(t, `{"dryRun":true,"matched":4}`, string(r.body))
}

// TestDeadLetters_Keys_RedisFailsPartWay_503WithResults: the answer says
// which keys were done before Redis went away.
func TestDeadLetters_Keys_RedisFailsPartWay_503WithResults(t *testing.T) {
	t.Parallel()
	e := filterEnv(t)
	// Each discard runs one script: the second fails.
	e.rdb.AddHook(&failNth{name: "evalsha", n: 2})
	r := e.do(http.MethodPost, "/v1/dead-letters/discard", keysBody("fa-1", "fa-2", "zz-1"), "Content-Type", "application/json")
	require.Equal(t, http.StatusServiceUnavailable, r.code, "%s", r.body)
	require.JSONEq(t, `{"results":[{"idempotencyKey":"fa-1","done":true}],"discarded":1,"failed":0,"error":"`+unavailable+`"}`, string(r.body))
}
