package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestProgressFrame_NeverFullBeforeTheEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame progressFrame
		want  string
	}{
		{"all rows counted, not ended", progressFrame{label: "labels", unit: "labels", done: 31, total: 31, share: -1}, " 99% 31/31 labels"},
		{"ended", progressFrame{label: "labels", unit: "labels", done: 31, total: 31, share: -1, final: true}, "100% 31/31 labels"},
		{"file read to its end, rows still in flight", progressFrame{label: "enqueueing", unit: "rows", done: 9000, share: 1}, " 99% 9000 rows"},
		{"nearly done rounds down", progressFrame{label: "labels", unit: "labels", done: 1999, total: 2000, share: -1}, " 99% 1999/2000 labels"},
		{"a third", progressFrame{label: "labels", unit: "labels", done: 1, total: 3, share: -1}, " 33% 1/3 labels"},
		{"standard input: no share known", progressFrame{label: "enqueueing", unit: "rows", done: 12, share: -1}, "enqueueing: 12 rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Contains(t, tt.frame.render(false), tt.want)
			require.Contains(t, tt.frame.render(true), strings.TrimPrefix(tt.want, "enqueueing:"))
		})
	}
}

func TestProgressFrame_EnqueueCountsRows(t *testing.T) {
	t.Parallel()
	// 25 GB read in a second would have shown "25 GB/s": the bar counts rows.
	f := progressFrame{label: "enqueueing", unit: "rows", done: 50_000, share: 0.5, elapsed: 2 * time.Second}
	for _, bar := range []bool{false, true} {
		line := f.render(bar)
		require.Contains(t, line, "50000 rows, 25000 rows/s")
		require.NotContains(t, line, "B/s")
		require.NotContains(t, line, "50%  ") // one percent sign, one number
		require.Contains(t, line, " 50%")
	}
}

func TestWaitFrame_CountsAddUp(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ completed, dead, total, urls int }{
		{0, 0, 10, 0}, {3, 1, 10, 2}, {9, 1, 10, 0}, {1990, 10, 2000, 16}, {5, 0, 5, 5},
	} {
		for _, final := range []bool{false, true} {
			f := waitFrame(c.completed, c.dead, c.total, c.urls, final, 3*time.Second)
			line := f.render(false)
			var completed, dead, remaining int
			_, err := fmt.Sscanf(line[strings.Index(line, fmt.Sprintf("%d completed", c.completed)):], "%d completed, %d dead, %d remaining", &completed, &dead, &remaining)
			require.NoError(t, err, line)
			require.Equal(t, c.total, completed+dead+remaining, "completed + dead + remaining = total: %s", line)
			require.Contains(t, line, fmt.Sprintf("%d/%d labels", c.completed+c.dead, c.total))
			full := strings.Contains(line, "100%")
			require.Equal(t, final && remaining == 0, full, "100 %% only at the end: %s", line)
			if c.urls > 0 {
				require.Contains(t, line, fmt.Sprintf("%d document URL(s) awaited", c.urls))
			}
		}
	}
}

func TestProgress_StoppedUnfinished_LeavesTheBarAsItStands(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	p := &progress{w: &out, tty: true, interval: time.Hour}
	stop := p.track(func(el time.Duration, final bool) progressFrame {
		return waitFrame(3, 0, 31, 0, final, el)
	})
	stop(false) // Ctrl-C
	require.Contains(t, out.String(), "\r")
	require.Contains(t, out.String(), "3/31 labels")
	require.NotContains(t, out.String(), "100%")
	require.True(t, strings.HasSuffix(out.String(), "\n"), "the bar's line is ended")

	out.Reset()
	stop = p.track(func(el time.Duration, final bool) progressFrame {
		return waitFrame(31, 0, 31, 0, final, el)
	})
	stop(true)
	require.Contains(t, out.String(), "100% 31/31 labels")
}
