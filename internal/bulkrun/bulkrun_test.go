package bulkrun_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/bulkfile"
	"github.com/flexlabel/flexlabel/internal/bulkrun"
	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func TestMain(m *testing.M) { queuetest.Main(m) }

// ndjson builds n lines: every 10th repeats the key of the line 50 before it
// (a duplicate across chunks), every 25th repeats it with another product (a
// conflict), every 97th is not JSON. want is computed by a model of
// line-by-line enqueueing: the first occurrence of a key wins.
func ndjson(n int) (string, map[int]queue.Outcome) {
	var b strings.Builder
	want := map[int]queue.Outcome{}
	first := map[string]string{} // key -> product of its first occurrence
	for i := range n {
		line := i + 1
		key, product := fmt.Sprintf("k%d", i), "HKMUZXR"
		switch {
		case i%97 == 96:
			b.WriteString("{broken\n")
			want[line] = queue.Invalid
			continue
		case i >= 50 && i%25 == 0:
			key, product = fmt.Sprintf("k%d", i-50), "OTHER"
		case i >= 50 && i%10 == 0:
			key = fmt.Sprintf("k%d", i-50)
		}
		b.Write(queuetest.RequestJSON(key, product))
		b.WriteByte('\n')
		switch p, seen := first[key]; {
		case !seen:
			first[key] = product
			want[line] = queue.Enqueued
		case p == product:
			want[line] = queue.Duplicate
		default:
			want[line] = queue.Conflict
		}
	}
	return b.String(), want
}

func TestRun_EveryRowInOrder_FirstOccurrenceWins(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(queuetest.Redis(t))
	t.Cleanup(func() { rdb.Close() })
	input, want := ndjson(2000)
	counts := map[queue.Outcome]int{}
	for _, o := range want {
		counts[o]++
	}
	require.Positive(t, counts[queue.Duplicate])
	require.Positive(t, counts[queue.Conflict])
	for _, opts := range []bulkrun.Options{{ChunkSize: 7, InFlight: 4, Parsers: 3}, {ChunkSize: 1, InFlight: 16}, {}} {
		q2, err := queue.New(rdb, queue.Options{Namespace: queuetest.Prefix(t)})
		require.NoError(t, err)
		var rows []bulkrun.Row
		sum, err := bulkrun.Run(context.Background(), q2, bulkfile.NewNDJSON(strings.NewReader(input)), opts, func(r bulkrun.Row) error {
			rows = append(rows, r)
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, 2000, len(rows), "every row emitted (%+v)", opts)
		require.Equal(t, 2000, sum.Total())
		for i, r := range rows {
			require.Equal(t, i+1, r.Line, "rows in file order")
			require.Equal(t, want[r.Line], r.Result.Outcome, "line %d (%+v)", r.Line, opts)
		}
	}
}
