package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// TestQueue_TrackingAndTrackingDue: what the poller wrote and what it has
// scheduled, read through the public API the front ends use; nil for a key
// neither polled nor scheduled.
func TestQueue_TrackingAndTrackingDue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()

	tr, err := e.q.Tracking(ctx, "k1")
	require.NoError(t, err)
	require.Nil(t, tr)
	due, err := e.q.TrackingDue(ctx, "k1")
	require.NoError(t, err)
	require.Nil(t, due)

	first := time.Now().Add(5 * time.Hour).Truncate(time.Millisecond)
	queuetest.ScheduleTracking(t, e.rdb, e.ns, "k1", first)
	due, err = e.q.TrackingDue(ctx, "k1")
	require.NoError(t, err)
	require.NotNil(t, due)
	require.True(t, first.Equal(*due), "got %v, want %v", due, first)
	tr, err = e.q.Tracking(ctx, "k1")
	require.NoError(t, err)
	require.Nil(t, tr, "scheduled is not polled")

	loc := "Gate 4"
	next := first.Add(45 * time.Minute).UTC()
	checked := first.UTC()
	queuetest.SetTracking(t, e.rdb, e.ns, "k1", queue.Tracking{
		Tag: flexapi.TagInTransit, Subtag: "InTransit_002", SubtagMessage: "Departed facility", TrackingNumber: "YT1CN",
		Checkpoints: []flexapi.Checkpoint{
			{CheckpointTime: "2026-12-02T10:00:00Z", City: "Edison", CountryRegion: "US", Location: &loc, Message: "Departed", Tag: flexapi.TagInTransit},
			{CheckpointTime: "2026-12-01T10:00:00Z", City: "Kishiwada", CountryRegion: "JP", Message: "Info received", Tag: flexapi.TagInfoReceived},
		},
		CheckedAt: checked, NextCheckAt: &next,
	})
	tr, err = e.q.Tracking(ctx, "k1")
	require.NoError(t, err)
	require.NotNil(t, tr)
	require.Equal(t, flexapi.TagInTransit, tr.Tag)
	require.Equal(t, "YT1CN", tr.TrackingNumber)
	require.Len(t, tr.Checkpoints, 2)
	require.Equal(t, "Departed", tr.Checkpoints[0].Message, "newest first, as written")
	require.Equal(t, "Gate 4", *tr.Checkpoints[0].Location)
	require.True(t, checked.Equal(tr.CheckedAt))
	require.True(t, next.Equal(*tr.NextCheckAt))

	// Status of the completed label carries the same object.
	_, err = e.q.EnqueueLine(ctx, queuetest.RequestJSON("k1", ""), queue.Interactive)
	require.NoError(t, err)
	require.NoError(t, e.st.Complete(ctx, queuetest.Job(t, e.q, "k1", "", queue.Interactive), &flexapi.Label{ID: "lbl_1", Status: flexapi.StatusCreated}))
	sts, err := e.q.Status(ctx, "k1")
	require.NoError(t, err)
	require.Equal(t, tr, sts[0].Tracking)
}
