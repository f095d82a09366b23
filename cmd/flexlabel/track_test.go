package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// trackFixture is a CLI whose namespace holds one completed label, key.
func trackFixture(t *testing.T, key string) (*cli, *queue.Queue) {
	t.Helper()
	c := newCLI(t)
	enqueue(t, c, key, "")
	q := c.queue(t)
	completeJob(t, q, key)
	return c, q
}

// sampleTracking is a shipment in transit with two checkpoints, newest
// first; the newest message holds what a terminal must not get raw.
func sampleTracking() queue.Tracking {
	loc := "Dock 7"
	next := time.Date(2026, 12, 2, 19, 30, 0, 0, time.UTC)
	return queue.Tracking{
		Tag: flexapi.TagInTransit, Subtag: "InTransit_003", SubtagMessage: "Departed origin facility", TrackingNumber: "YT2412345678CN",
		Checkpoints: []flexapi.Checkpoint{
			{CheckpointTime: "2026-12-02T09:14:00+08:00", City: "Shenzhen", State: "GD", CountryRegion: "CN",
				Message: "Departed\tfacility \x1b[31mred\x1b[0m\nnext line", Tag: flexapi.TagInTransit},
			{CheckpointTime: "2026-12-01T18:00:00+08:00", Location: &loc, Message: "Shipment information received", Tag: flexapi.TagInfoReceived},
		},
		CheckedAt:   time.Date(2026, 12, 2, 18, 45, 0, 0, time.UTC),
		NextCheckAt: &next,
	}
}

// TestTrack_Polled_FieldsThenCheckpointsNewestFirst: the readable answer
// names the tag, subtag message, tracking number, checked and next, then a
// table of checkpoints in the API's order, each on one line with nothing a
// terminal would interpret.
func TestTrack_Polled_FieldsThenCheckpointsNewestFirst(t *testing.T) {
	t.Parallel()
	c, q := trackFixture(t, "trk-1")
	queuetest.SetTracking(t, q.Redis(), c.env["FLEXLABEL_QUEUE"], "trk-1", sampleTracking())

	r := c.run(t, "", "track", "trk-1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Empty(t, r.stderr)
	out := r.stdout
	for _, want := range []string{
		"Key:", "trk-1",
		"Tag:", "InTransit",
		"Subtag:", "Departed origin facility (InTransit_003)",
		"Tracking number:", "YT2412345678CN",
		"Checked at:", "2026-12-02 18:45:00Z",
		"Next check at:", "2026-12-02 19:30:00Z",
		"Checkpoints (newest first):",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "\x1b", "no escape sequence reaches the terminal")
	require.NotContains(t, out, "\t")

	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var table []string
	for i, l := range lines {
		if strings.HasPrefix(l, "Checkpoints") {
			table = lines[i+1:]
		}
	}
	require.Len(t, table, 3, "a header and one line per checkpoint:\n%s", out)
	require.Regexp(t, `^\s+TIME\s+PLACE\s+TAG\s+MESSAGE$`, table[0])
	require.Regexp(t, `^\s+2026-12-02T09:14:00\+08:00\s+Shenzhen, GD, CN\s+InTransit\s+Departed facility \[31mred \[0m next line$`, table[1])
	require.Regexp(t, `^\s+2026-12-01T18:00:00\+08:00\s+Dock 7\s+InfoReceived\s+Shipment information received$`, table[2],
		"a checkpoint without city, state or country shows its location")
	// The columns line up: each field starts where its header does.
	col := strings.Index(table[0], "MESSAGE")
	require.Equal(t, "Departed", table[1][col:col+len("Departed")])
}

// TestTrack_JSON_IsStatusTracking: --json prints the key, the same
// tracking object as status --json, and the next check.
func TestTrack_JSON_IsStatusTracking(t *testing.T) {
	t.Parallel()
	c, q := trackFixture(t, "trk-2")
	ns := c.env["FLEXLABEL_QUEUE"]
	tr := sampleTracking()
	queuetest.SetTracking(t, q.Redis(), ns, "trk-2", tr)
	queuetest.ScheduleTracking(t, q.Redis(), ns, "trk-2", *tr.NextCheckAt)

	r := c.run(t, "", "track", "--json", "trk-2")
	require.Equal(t, 0, r.code, r.stderr)
	var got map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	require.Len(t, got, 3, r.stdout)
	require.JSONEq(t, `"trk-2"`, string(got["idempotencyKey"]))
	require.JSONEq(t, `"2026-12-02T19:30:00Z"`, string(got["nextCheckAt"]))

	st := c.run(t, "", "status", "--json", "trk-2")
	require.Equal(t, 0, st.code, st.stderr)
	var status map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(st.stdout), &status))
	require.JSONEq(t, string(status["tracking"]), string(got["tracking"]), "the same object as status's tracking")
	var back queue.Tracking
	require.NoError(t, json.Unmarshal(got["tracking"], &back))
	require.Equal(t, tr.Checkpoints, back.Checkpoints, "checkpoints as written, newest first, unedited")
}

// TestTrack_NotPolledYet_SaysWhenTheFirstCheckIsDue: before the first poll
// the answer says so and gives the due time from the schedule; with none
// scheduled, why.
func TestTrack_NotPolledYet_SaysWhenTheFirstCheckIsDue(t *testing.T) {
	t.Parallel()
	c, q := trackFixture(t, "trk-3")
	ns := c.env["FLEXLABEL_QUEUE"]

	r := c.run(t, "", "track", "trk-3")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "trk-3: not polled yet; no check scheduled: tracking does not follow this key (FLEXLABEL_TRACKING, FLEXLABEL_TRACKING_KEY_PREFIX, FLEXLABEL_TRACKING_MAX_AGE)\n", r.stdout)
	r = c.run(t, "", "track", "--json", "trk-3")
	require.Equal(t, 0, r.code, r.stderr)
	require.JSONEq(t, `{"idempotencyKey":"trk-3","tracking":null,"nextCheckAt":null}`, r.stdout)

	due := time.Date(2026, 12, 2, 23, 7, 42, 500_000_000, time.UTC)
	queuetest.ScheduleTracking(t, q.Redis(), ns, "trk-3", due)
	r = c.run(t, "", "track", "trk-3")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "trk-3: not polled yet; first check due at 2026-12-02 23:07:42Z\n", r.stdout)
	r = c.run(t, "", "track", "--json", "trk-3")
	require.Equal(t, 0, r.code, r.stderr)
	require.JSONEq(t, `{"idempotencyKey":"trk-3","tracking":null,"nextCheckAt":"2026-12-02T23:07:42.5Z"}`, r.stdout)

	// A job whose label is not made yet is not followed yet.
	enqueue(t, c, "trk-4", "")
	r = c.run(t, "", "track", "trk-4")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "trk-4: not polled yet; no check scheduled: the label is not created (state pending); a completed label is followed\n", r.stdout)
}

// TestTrack_Delivered_NoLongerFollowed: a shipment past its last poll shows
// its checkpoints and that it is no longer followed.
func TestTrack_Delivered_NoLongerFollowed(t *testing.T) {
	t.Parallel()
	c, q := trackFixture(t, "trk-5")
	tr := sampleTracking()
	tr.Tag, tr.SubtagMessage, tr.Subtag, tr.NextCheckAt = flexapi.TagDelivered, "Delivered", "", nil
	tr.Checkpoints = nil
	queuetest.SetTracking(t, q.Redis(), c.env["FLEXLABEL_QUEUE"], "trk-5", tr)

	r := c.run(t, "", "track", "trk-5")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `(?m)^Next check at:\s+- \(no longer followed\)$`, r.stdout)
	require.Regexp(t, `(?m)^Subtag:\s+Delivered$`, r.stdout, "no empty subtag code")
	require.Contains(t, r.stdout, "Checkpoints: none yet")
	r = c.run(t, "", "track", "--json", "trk-5")
	require.Equal(t, 0, r.code, r.stderr)
	var got trackAnswer
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	require.Nil(t, got.NextCheckAt)
	require.NotNil(t, got.Tracking)
	require.Empty(t, got.Tracking.Checkpoints)
	require.Contains(t, r.stdout, `"checkpoints":[]`, "an empty list, not null")
}

// TestTrack_UnknownKeyExitsOne_BadArgsTwo: an unknown key is a refusal, as
// for status; no key or two keys are usage errors.
func TestTrack_UnknownKeyExitsOne_BadArgsTwo(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	r := c.run(t, "", "track", "nope")
	require.Equal(t, 1, r.code)
	require.Empty(t, r.stdout)
	require.Equal(t, "flexlabel: \"nope\": unknown key (never enqueued here, or its record expired after the retention)\n", r.stderr)
	r = c.run(t, "", "track", "--json", "nope")
	require.Equal(t, 1, r.code)
	require.Empty(t, r.stdout)

	for _, args := range [][]string{{"track"}, {"track", "a", "b"}} {
		r = c.run(t, "", args...)
		require.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
		require.Contains(t, r.stderr, "arg(s)")
	}
	// A dead key is known: its label was never made, so nothing follows it.
	q := c.queue(t)
	c.deadLetter(t, q, "dead-1", queue.ReasonInvalid)
	r = c.run(t, "", "track", "dead-1")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "dead-1: not polled yet; no check scheduled: the label is not created (state dead)")
}

// TestTrack_Completion_OffersTheCommand: shells complete `tr` to track.
func TestTrack_Completion_OffersTheCommand(t *testing.T) {
	t.Parallel()
	got := complete(t, "tr")
	require.Len(t, got, 1)
	require.True(t, strings.HasPrefix(got[0], "track\t"), "%v", got)
}
