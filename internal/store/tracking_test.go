package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/internal/store"
	"github.com/flexlabel/flexlabel/queue/queuetest"
	"github.com/flexlabel/flexlabel/webhook"
)

// trackEnv is a hookEnv whose worker store follows every key, the first
// check due within a millisecond.
func trackEnv(t *testing.T, hooks bool) (*hookEnv, *store.Store) {
	t.Helper()
	h := newHookEnv(t, hooks, time.Hour)
	o := h.wst.Options()
	o.Tracking = store.TrackingOptions{On: true, FirstCheckMin: 0, FirstCheckMax: time.Millisecond}
	wst, err := store.New(h.rdb, o)
	require.NoError(t, err)
	return h, wst
}

func completeFollowed(t *testing.T, h *hookEnv, wst *store.Store, key string) {
	t.Helper()
	enqueue(t, h.env, queuetest.RequestJSON(key, ""), store.Interactive)
	require.NoError(t, wst.Complete(context.Background(), queuetest.Job(t, h.q, key, "", store.Interactive), created("lbl-"+key)))
}

func tracking(tag string, checkpoints int, next *time.Time) *store.Tracking {
	tr := &store.Tracking{Tag: tag, Checkpoints: []flexapi.Checkpoint{}, CheckedAt: time.Now().UTC(), NextCheckAt: next}
	for i := range checkpoints {
		tr.Checkpoints = append([]flexapi.Checkpoint{{CheckpointTime: time.Unix(int64(i), 0).UTC().Format(time.RFC3339), Tag: tag}}, tr.Checkpoints...)
	}
	return tr
}

// Complete schedules a followed label once, with its label id; a claim
// holds the key for its lease, after which another poller gets it and the
// first one's write is refused.
func TestClaimTracking_LeaseAndClaimToken(t *testing.T) {
	t.Parallel()
	h, wst := trackEnv(t, false)
	ctx := context.Background()
	completeFollowed(t, h, wst, "k1")
	require.NoError(t, wst.Complete(ctx, queuetest.Job(t, h.q, "k1", "", store.Interactive), created("lbl-k1")), "a replay schedules nothing twice")
	counts, err := wst.TrackingCounts(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{store.TagNotPolled: 1}, counts)
	due, ok, err := wst.NextTrackingDue(ctx)
	require.NoError(t, err)
	require.True(t, ok)

	now := due.Add(time.Millisecond)
	c, err := wst.ClaimTracking(ctx, now, time.Minute)
	require.NoError(t, err)
	require.Equal(t, "k1", c.Key)
	require.Equal(t, "lbl-k1", c.LabelID)
	require.Nil(t, c.Tracking)
	again, err := wst.ClaimTracking(ctx, now, time.Minute)
	require.NoError(t, err)
	require.Nil(t, again, "held by the first claim")

	later, err := wst.ClaimTracking(ctx, now.Add(time.Minute+time.Millisecond), time.Minute)
	require.NoError(t, err)
	require.NotNil(t, later, "the lease ended: the key is due again")
	next := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	ok, err = wst.FinishTracking(ctx, c, store.TrackingUpdate{Tracking: tracking("InTransit", 2, &next), Next: &next})
	require.NoError(t, err)
	require.False(t, ok, "the first claim is lost")
	ok, err = wst.FinishTracking(ctx, later, store.TrackingUpdate{Tracking: tracking("InTransit", 2, &next), Next: &next})
	require.NoError(t, err)
	require.True(t, ok)
	tr, err := h.st.Tracking(ctx, "k1")
	require.NoError(t, err)
	require.Equal(t, "InTransit", tr.Tag)
	require.Equal(t, next, tr.NextCheckAt.UTC())
	counts, err = wst.TrackingCounts(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"InTransit": 1}, counts)
	score, err := h.rdb.ZScore(ctx, "fl:"+h.ns+":trk:due", "k1").Result()
	require.NoError(t, err)
	require.Equal(t, float64(next.UnixMilli()), score)
	ttl := h.rdb.TTL(ctx, "fl:"+h.ns+":k:k1").Val()
	require.Greater(t, ttl, h.q.Options().Retention, "the record outlives the next check by the retention")
	require.Equal(t, ttl, h.rdb.TTL(ctx, "fl:"+h.ns+":trk:k1").Val())
}

// Stopping removes the key from the schedule and the counts; tracking.updated
// is sent for news only, and its data carries the tracking.
func TestFinishTracking_EventsForNewsOnly_StopUnschedules(t *testing.T) {
	t.Parallel()
	h, wst := trackEnv(t, true)
	ctx := context.Background()
	completeFollowed(t, h, wst, "k1")
	claim := func() *store.TrackingClaim {
		c, err := wst.ClaimTracking(ctx, time.Now().Add(24*time.Hour), time.Millisecond)
		require.NoError(t, err)
		require.NotNil(t, c)
		// make it due again at once for the next round
		return c
	}
	finish := func(c *store.TrackingClaim, tr *store.Tracking) {
		var next *time.Time
		if tr.NextCheckAt != nil {
			next = tr.NextCheckAt
		}
		ok, err := wst.FinishTracking(ctx, c, store.TrackingUpdate{Tracking: tr, Next: next})
		require.NoError(t, err)
		require.True(t, ok)
	}
	soon := time.Now().Add(time.Millisecond)
	finish(claim(), tracking("InfoReceived", 1, &soon)) // news: the first tracking
	finish(claim(), tracking("InfoReceived", 1, &soon)) // nothing new
	finish(claim(), tracking("InTransit", 2, &soon))    // news
	finish(claim(), tracking("Delivered", 3, nil))      // news, and the end
	c, err := wst.ClaimTracking(ctx, time.Now().Add(24*time.Hour), time.Millisecond)
	require.NoError(t, err)
	require.Nil(t, c, "no longer followed")
	require.Zero(t, h.rdb.Exists(ctx, "fl:"+h.ns+":trk:f", "fl:"+h.ns+":trk:due", "fl:"+h.ns+":trk:tags").Val())

	var tags []string
	for _, ev := range h.events(t) {
		if ev.Type != webhook.TrackingUpdated {
			continue
		}
		var d store.JobStatus
		require.NoError(t, json.Unmarshal(ev.Data, &d))
		require.NotNil(t, d.Tracking)
		tags = append(tags, d.Tracking.Tag)
	}
	require.Equal(t, []string{"InfoReceived", "InTransit", "Delivered"}, tags)
}

func TestTrackingChanged(t *testing.T) {
	t.Parallel()
	a := tracking("InTransit", 2, nil)
	for _, tc := range []struct {
		name     string
		old, cur *store.Tracking
		want     bool
	}{
		{"first", nil, a, true},
		{"same", a, tracking("InTransit", 2, nil), false},
		{"tag", a, tracking("Exception", 2, nil), true},
		{"checkpoint", a, tracking("InTransit", 3, nil), true},
		{"none", a, nil, false},
	} {
		require.Equal(t, tc.want, store.TrackingChanged(tc.old, tc.cur), tc.name)
	}
}
