package bulkfile_test

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/bulkfile"
)

type numbered struct {
	n    int
	line string
}

func readLines(t *testing.T, l *bulkfile.LineReader) ([]numbered, error) {
	t.Helper()
	var out []numbered
	for {
		n, line, err := l.Next()
		if err != nil {
			return out, err
		}
		out = append(out, numbered{n, string(line)})
	}
}

// The one NDJSON splitter: numbered lines, blank ones (JSON whitespace
// only) skipped but counted, \n and \r\n endings dropped, everything else
// left as it is for the caller's own rules; a byte-order mark dropped only
// when asked (bulk files), since the other front ends answer it as invalid.
func TestLineReader_NumbersEndingsBlanksAndBOM(t *testing.T) {
	t.Parallel()
	in := "\xef\xbb\xbf{\"a\":1}\r\n\n \t\r\n  {\"b\": 2}  \n\f\n{\"c\":3}"
	got, err := readLines(t, bulkfile.NewLineReader(strings.NewReader(in), 100))
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, []numbered{{1, "\xef\xbb\xbf{\"a\":1}"}, {4, "  {\"b\": 2}  "}, {5, "\f"}, {6, "{\"c\":3}"}}, got)

	l := bulkfile.NewLineReader(strings.NewReader(in), 100)
	l.DropBOM()
	got, err = readLines(t, l)
	require.ErrorIs(t, err, io.EOF)
	require.Equal(t, numbered{1, "{\"a\":1}"}, got[0])
	_, _, err = l.Next()
	require.ErrorIs(t, err, io.EOF, "the end is answered again")
}

func TestLineReader_LongLine_ErrorNamesIt(t *testing.T) {
	t.Parallel()
	for _, eol := range []string{"\n", "\r\n"} {
		in := "{}\n" + strings.Repeat("x", 8) + eol + strings.Repeat("y", 9) + eol
		l := bulkfile.NewLineReader(strings.NewReader(in), 8)
		got, err := readLines(t, l)
		require.ErrorIs(t, err, bulkfile.ErrTooLong, "eol %q", eol)
		require.ErrorContains(t, err, "line 3")
		require.Equal(t, []numbered{{1, "{}"}, {2, strings.Repeat("x", 8)}}, got, "a line of exactly max is a line")
		_, _, again := l.Next()
		require.Equal(t, err, again)
	}
}

func TestLineReader_LinesAreFresh(t *testing.T) {
	t.Parallel()
	l := bulkfile.NewLineReader(strings.NewReader("{\"a\":1}\n{\"b\":2}\n"), 100)
	_, first, err := l.Next()
	require.NoError(t, err)
	_, _, err = l.Next()
	require.NoError(t, err)
	require.Equal(t, `{"a":1}`, string(first), "a line stays as read after the next one")
}
