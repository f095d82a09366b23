package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// trackedLabel completes key and writes a tracking record for it, as the
// worker's poller would after a poll: two checkpoints, newest first.
func (e *env) trackedLabel(key string) queue.Tracking {
	e.t.Helper()
	_, res := e.enqueue(queuetest.RequestJSON(key, ""))
	require.Equal(e.t, queue.Enqueued, res.Outcome)
	require.NoError(e.t, queuetest.Store(e.t, e.q).Complete(context.Background(), e.job(key, ""),
		&flexapi.Label{ID: "lbl_" + key, Status: flexapi.StatusCreated}))
	loc := "Sort center 3"
	next := time.Date(2026, 12, 2, 19, 30, 0, 0, time.UTC)
	tr := queue.Tracking{
		Tag: flexapi.TagInTransit, Subtag: "InTransit_001", SubtagMessage: "In transit", TrackingNumber: "YT2412345678CN",
		Checkpoints: []flexapi.Checkpoint{
			{CheckpointTime: "2026-12-02T09:14:00+08:00", City: "Shenzhen", State: "GD", CountryRegion: "CN", Location: &loc,
				Message: "Departed facility", Tag: flexapi.TagInTransit, Subtag: "InTransit_001", SubtagMessage: "In transit", Slug: "yunexpress"},
			{CheckpointTime: "2026-12-01T18:00:00+08:00", City: "Shenzhen", CountryRegion: "CN",
				Message: "Shipment information received", Tag: flexapi.TagInfoReceived, Subtag: "InfoReceived_001", SubtagMessage: "Info received", Slug: "yunexpress"},
		},
		CheckedAt:   time.Date(2026, 12, 2, 18, 45, 0, 0, time.UTC),
		NextCheckAt: &next,
	}
	queuetest.SetTracking(e.t, e.rdb, e.ns, key, tr)
	return tr
}

// declaredOnly fails when v has a property its schema does not declare: the
// document's objects are open (clients must ignore new fields), so the
// contract layer alone would let an undocumented field through.
func declaredOnly(t *testing.T, doc *openapi3.T, schema string, v map[string]any) {
	t.Helper()
	s := doc.Components.Schemas[schema]
	require.NotNil(t, s, "components.schemas.%s", schema)
	for k := range v {
		require.Contains(t, s.Value.Properties, k, "%s.%s is not in the document", schema, k)
	}
	for _, k := range s.Value.Required {
		require.Contains(t, v, k, "%s.%s is required", schema, k)
	}
}

// TestGetLabel_Tracked_MatchesTheDocument: GET /v1/labels/{key} of a
// followed label carries `tracking` (checkpoints newest first), which
// validates against JobStatus (the contract layer checks every answer) and
// names only what Tracking and Checkpoint declare.
func TestGetLabel_Tracked_MatchesTheDocument(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	want := e.trackedLabel("trk/1")

	r := e.do(http.MethodGet, keyPath("/v1/labels/", "trk/1"), nil)
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	var st queue.JobStatus
	r.json(t, &st)
	require.Equal(t, queue.StateCompleted, st.State)
	require.NotNil(t, st.Tracking)
	require.Equal(t, want.Checkpoints, st.Tracking.Checkpoints, "newest first, as polled")
	require.Equal(t, "YT2412345678CN", st.Tracking.TrackingNumber)

	doc, _ := contract(t)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(r.body, &raw))
	declaredOnly(t, doc, "JobStatus", raw)
	tr, ok := raw["tracking"].(map[string]any)
	require.True(t, ok, "tracking is an object: %s", r.body)
	declaredOnly(t, doc, "Tracking", tr)
	cps := tr["checkpoints"].([]any)
	require.Len(t, cps, 2)
	for _, cp := range cps {
		declaredOnly(t, doc, "Checkpoint", cp.(map[string]any))
	}
	require.Nil(t, cps[1].(map[string]any)["location"], "a checkpoint without a place has location null")

	// The schema constrains tracking: a mangled one is not a JobStatus.
	for name, bad := range map[string]any{
		"checkpoints not a list": map[string]any{"checkpoints": "x"},
		"checkedAt not a time":   map[string]any{"checkedAt": "soon"},
		"tag missing":            map[string]any{"tag": nil},
		"checkpoint city a number": map[string]any{"checkpoints": []any{
			map[string]any{"checkpointTime": "t", "city": 1, "state": "", "countryRegion": "", "location": nil, "message": "", "tag": "", "subtag": "", "subtagMessage": "", "slug": ""},
		}},
	} {
		mangled := map[string]any{}
		require.NoError(t, json.Unmarshal(r.body, &mangled))
		mt := mangled["tracking"].(map[string]any)
		for k, v := range bad.(map[string]any) {
			if v == nil {
				delete(mt, k)
				continue
			}
			mt[k] = v
		}
		require.Error(t, doc.Components.Schemas["JobStatus"].Value.VisitJSON(mangled, openapi3.EnableJSONSchema2020()), name)
	}
}

// TestGetLabel_NotPolledYet_TrackingNull: before the first poll, and for a
// key not followed, tracking is null, as the document allows.
func TestGetLabel_NotPolledYet_TrackingNull(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.enqueue(queuetest.RequestJSON("k1", ""))
	require.NoError(t, queuetest.Store(t, e.q).Complete(context.Background(), e.job("k1", ""),
		&flexapi.Label{ID: "lbl_1", Status: flexapi.StatusCreated}))
	queuetest.ScheduleTracking(t, e.rdb, e.ns, "k1", time.Now().Add(5*time.Hour))

	r := e.do(http.MethodGet, "/v1/labels/k1", nil)
	require.Equal(t, http.StatusOK, r.code)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(r.body, &raw))
	require.Contains(t, raw, "tracking")
	require.Nil(t, raw["tracking"])
	doc, _ := contract(t)
	declaredOnly(t, doc, "JobStatus", raw)
}

// TestOpenAPI_TrackingUpdatedWebhook: the webhooks section describes
// tracking.updated with every event's envelope; an event whose data is a
// tracked label's status validates, one without tracking does not.
func TestOpenAPI_TrackingUpdatedWebhook(t *testing.T) {
	t.Parallel()
	doc := loadKinDoc(t)
	item := doc.Webhooks["trackingUpdated"]
	require.NotNil(t, item, "webhooks.trackingUpdated")
	require.NotNil(t, item.Post)
	schema := item.Post.RequestBody.Value.Content.Get("application/json").Schema.Value
	require.True(t, slices.Contains(doc.Components.Schemas["WebhookEventType"].Value.Enum, any("tracking.updated")))

	e := newEnv(t)
	e.trackedLabel("k1")
	r := e.do(http.MethodGet, "/v1/labels/k1", nil)
	require.Equal(t, http.StatusOK, r.code)
	var data any
	require.NoError(t, json.Unmarshal(r.body, &data))
	event := map[string]any{
		"id": "evt_01jeq2x7c8m9n0p1q2r3s4t5v6", "type": "tracking.updated", "createdAt": "2026-12-02T18:45:00Z",
		"apiVersion": "v1", "sequence": 3, "data": data,
	}
	require.NoError(t, schema.VisitJSON(event, openapi3.EnableJSONSchema2020()))
	require.NoError(t, doc.Components.Schemas["WebhookEvent"].Value.VisitJSON(event, openapi3.EnableJSONSchema2020()), "the same envelope as every event")

	untracked := map[string]any{}
	for k, v := range data.(map[string]any) {
		untracked[k] = v
	}
	untracked["tracking"] = nil
	event["data"] = untracked
	require.Error(t, schema.VisitJSON(event, openapi3.EnableJSONSchema2020()), "tracking.updated carries the tracking")
	event["data"], event["type"] = data, "label.completed"
	require.Error(t, schema.VisitJSON(event, openapi3.EnableJSONSchema2020()), "the schema is tracking.updated's")
}
