package bulkfile_test

import (
	"encoding/csv"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/bulkfile"
)

// withDelimiter rewrites the example CSV with another separator, quoting
// as encoding/csv does.
func withDelimiter(t *testing.T, d rune) string {
	t.Helper()
	f, err := os.Open("../../docs/examples/orders.csv")
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Comma = d
	require.NoError(t, w.WriteAll(recs))
	return b.String()
}

func TestCSV_WithDelimiter_SameRequestsAsCommas(t *testing.T) {
	t.Parallel()
	commas, err := bulkfile.NewCSV(strings.NewReader(withDelimiter(t, ',')))
	require.NoError(t, err)
	want := readAll(t, commas)
	require.NotEmpty(t, want)
	for _, d := range []rune{';', '\t', '|'} {
		r, err := bulkfile.NewCSV(strings.NewReader(withDelimiter(t, d)), bulkfile.WithDelimiter(d))
		require.NoError(t, err, "%q", d)
		require.Equal(t, want, readAll(t, r), "%q", d)
	}
}

func TestCSV_OneColumnHeaderWithSemicolons_SuggestsDelimiter(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		given, found rune
	}{{',', ';'}, {',', '\t'}, {',', '|'}, {';', ','}} {
		_, err := bulkfile.NewCSV(strings.NewReader(withDelimiter(t, tt.found)), bulkfile.WithDelimiter(tt.given))
		var he *bulkfile.HeaderError
		require.True(t, errors.As(err, &he), "%v", err)
		require.Equal(t, tt.found, he.Delimiter)
		require.Len(t, he.Problems, 1, "one clear problem, not one per unknown path: %v", err)
		require.Contains(t, err.Error(), "the header is a single column containing")
	}

	// A one-column header that is just wrong suggests nothing.
	_, err := bulkfile.NewCSV(strings.NewReader("idempotencyKee\nk1\n"))
	var he *bulkfile.HeaderError
	require.True(t, errors.As(err, &he), "%v", err)
	require.Zero(t, he.Delimiter)
}

func TestCSV_WithDelimiter_RefusesUnusable(t *testing.T) {
	t.Parallel()
	for _, d := range []rune{'"', '\n', '\r', 0, 0xFFFD} {
		_, err := bulkfile.NewCSV(strings.NewReader("idempotencyKey\nk1\n"), bulkfile.WithDelimiter(d))
		require.ErrorContains(t, err, "CSV delimiter", "%q", d)
	}
}
