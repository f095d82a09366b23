package bulkfile

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// csvBufSize is the read-ahead of the CSV parser, and so the slack of the
// row-size limit (see limitReader).
const csvBufSize = 16 << 10

type csvReader struct {
	cr    *csv.Reader
	lim   *limitReader
	plan  *plan
	names []string
	err   error

	// Per-row scratch, reused: which nodes the row fills, each column's
	// encoded JSON value as a span of tok, and the output.
	present []bool
	span    [][2]int
	tok     []byte
	out     []byte
}

// NewCSV reads the header row of a CSV bulk file and returns a Reader of its
// rows, each converted to a request as docs/BULK_FORMAT.md describes. The
// header is checked as a whole before any row is read: every unknown,
// malformed or duplicate column is listed in one *HeaderError. A UTF-8
// byte-order mark is dropped, and spaces around header names are trimmed.
//
// A row that cannot become a request (a cell of the wrong type, invalid raw
// JSON, a hole in an array, the wrong number of cells, a stray quote) is a
// Record with a *RowError and the run goes on. A row whose cells are all
// empty is skipped. A quote left open across lines is fatal, since the rows
// after it cannot be told apart reliably.
//
// Cells are separated by commas unless WithDelimiter says otherwise. A
// header that is a single column containing ';', a tab or '|' is refused
// with a *HeaderError whose Delimiter names that character, the likely
// separator of the file.
func NewCSV(r io.Reader, opts ...CSVOption) (Reader, error) {
	o := csvOptions{comma: ','}
	for _, opt := range opts {
		opt(&o)
	}
	if !validDelimiter(o.comma) {
		return nil, fmt.Errorf("CSV delimiter %q: want one character other than a quote, a line break or the Unicode replacement character", o.comma)
	}
	br := bufio.NewReaderSize(r, csvBufSize)
	if b, err := br.Peek(len(utf8BOM)); bytes.Equal(b, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
	} else if err != nil && err != io.EOF && len(b) < len(utf8BOM) {
		return nil, fmt.Errorf("read CSV header: %w", err)
	}
	lim := &limitReader{r: br, line: 1}
	cr := csv.NewReader(bufio.NewReaderSize(lim, csvBufSize))
	cr.ReuseRecord = true
	cr.LazyQuotes = false
	cr.Comma = o.comma

	header, err := cr.Read()
	switch {
	case err == io.EOF:
		return nil, errors.New("read CSV header: the file is empty; want a header row of request paths")
	case err != nil:
		return nil, fmt.Errorf("read CSV header: %w", err)
	}
	names := make([]string, len(header))
	for i, h := range header {
		names[i] = strings.TrimSpace(h)
	}
	p, err := compile(names)
	if err != nil {
		if d := otherDelimiter(names, o.comma); d != 0 {
			return nil, &HeaderError{Delimiter: d, Problems: []Problem{{Message: fmt.Sprintf(
				"the header is a single column containing %q: the file seems to be separated by %q, not %q",
				d, d, o.comma)}}}
		}
		return nil, err
	}
	cr.FieldsPerRecord = len(names)
	return &csvReader{
		cr:      cr,
		lim:     lim,
		plan:    p,
		names:   names,
		present: make([]bool, p.nodes),
		span:    make([][2]int, len(names)),
	}, nil
}

// CSVOption tunes NewCSV.
type CSVOption func(*csvOptions)

type csvOptions struct{ comma rune }

// WithDelimiter makes NewCSV split cells at d instead of ','. NewCSV refuses
// a d that cannot separate cells (a quote, CR, LF, U+FFFD).
func WithDelimiter(d rune) CSVOption { return func(o *csvOptions) { o.comma = d } }

func validDelimiter(d rune) bool {
	return d != 0 && d != '"' && d != '\r' && d != '\n' && d != utf8.RuneError && utf8.ValidRune(d)
}

// otherDelimiter returns the separator a one-column header seems to use
// instead of comma, or 0.
func otherDelimiter(names []string, comma rune) rune {
	if len(names) != 1 {
		return 0
	}
	for _, d := range []rune{';', '\t', '|', ','} {
		if d != comma && strings.ContainsRune(names[0], d) {
			return d
		}
	}
	return 0
}

func (c *csvReader) Next() (Record, error) {
	if c.err != nil {
		return Record{}, c.err
	}
	for {
		c.lim.startRow()
		rec, err := c.cr.Read()
		if err != nil {
			if errors.Is(err, csv.ErrFieldCount) && allBlank(rec) {
				continue // a line of spaces: a blank row, however many cells
			}
			if row, ok := c.rowError(err, len(rec)); ok {
				return row, nil
			}
			c.err = err
			if err != io.EOF {
				c.err = fmt.Errorf("read CSV: %w", err)
			}
			return Record{}, c.err
		}
		line, _ := c.cr.FieldPos(0)
		data, err := c.convert(rec, line)
		if data == nil && err == nil {
			continue // every cell empty: a blank row
		}
		r := Record{Line: line, Data: data, Err: err}
		if err != nil {
			for i, n := range c.names {
				if n == "idempotencyKey" && i < len(rec) {
					r.Key = rec[i]
				}
			}
		}
		return r, nil
	}
}

// rowError turns a CSV syntax error confined to one row into that row's
// Record. A quote error spanning lines is not confined: the parser may have
// swallowed later rows, so it stays fatal.
func (c *csvReader) rowError(err error, cells int) (Record, bool) {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return Record{}, false
	}
	var msg string
	switch {
	case errors.Is(pe.Err, csv.ErrFieldCount):
		// encoding/csv returns the record along with this error.
		msg = fmt.Sprintf("%s, but the header has %s (a comma inside a value needs quotes around the cell)",
			plural(cells, "cell"), plural(len(c.names), "column"))
	case errors.Is(pe.Err, csv.ErrBareQuote):
		msg = fmt.Sprintf(`a " inside an unquoted cell (line %d, byte %d): put the cell in quotes and double each " inside it`, pe.Line, pe.Column)
	case errors.Is(pe.Err, csv.ErrQuote) && pe.Line == pe.StartLine:
		msg = fmt.Sprintf(`a stray " in a quoted cell (line %d, byte %d): double each " inside a quoted cell`, pe.Line, pe.Column)
	default:
		return Record{}, false
	}
	return Record{Line: pe.StartLine, Err: &RowError{Line: pe.StartLine, Problems: []Problem{{Message: msg}}}}, true
}

// convert encodes one row: it checks every non-empty cell and encodes the
// typed ones, marks the nodes the row fills, checks the arrays for holes,
// and writes the request. It returns (nil, nil) for a row of empty cells.
func (c *csvReader) convert(rec []string, line int) ([]byte, error) {
	clear(c.present)
	c.tok = c.tok[:0]
	var probs []Problem
	filled := false
	for col, cell := range rec {
		if isBlank(cell) {
			continue
		}
		filled = true
		leaf := c.plan.leaves[col]
		for n := leaf; n != nil && !c.present[n.id]; n = n.parent {
			c.present[n.id] = true
		}
		start := len(c.tok)
		var msg string
		c.tok, msg = appendCell(c.tok, leaf.kind, leaf.bits, cell)
		if msg != "" {
			probs = append(probs, Problem{Column: col + 1, Name: c.names[col], Message: msg})
		}
		c.span[col] = [2]int{start, len(c.tok)}
	}
	if !filled {
		return nil, nil
	}
	for _, a := range c.plan.arrays {
		if !c.present[a.id] {
			continue
		}
		hole := -1
		for i, e := range a.children {
			switch {
			case !c.present[e.id]:
				if hole < 0 {
					hole = i
				}
			case hole >= 0:
				col := c.firstFilled(e)
				probs = append(probs, Problem{Column: col + 1, Name: c.names[col], Message: fmt.Sprintf(
					"set while %s[%d] is empty: fill an array's elements in order from [0]", a.path, hole)})
			}
		}
	}
	if len(probs) == 0 {
		var ok bool
		if c.out, ok = c.emit(c.out[:0], rec); ok {
			return bytes.Clone(c.out), nil
		}
	}
	// The row is refused: report its bad strings too, in column order.
	for col, cell := range rec {
		if c.plan.leaves[col].kind == kindString && !utf8.ValidString(cell) {
			probs = append(probs, Problem{Column: col + 1, Name: c.names[col], Message: badUTF8})
		}
	}
	slices.SortStableFunc(probs, func(a, b Problem) int { return cmp.Compare(a.Column, b.Column) })
	return nil, &RowError{Line: line, Problems: probs, Request: c.requestProblems(rec, probs)}
}

// firstFilled returns the first column below n with a value in this row.
func (c *csvReader) firstFilled(n *node) int {
	if n.kind.isLeaf() {
		return n.col
	}
	best := -1
	for _, ch := range n.children {
		if c.present[ch.id] {
			if col := c.firstFilled(ch); best < 0 || col < best {
				best = col
			}
		}
	}
	return best
}

// emit runs the plan's program over a checked row, skipping what it leaves
// empty. Strings are escaped straight from their cells; other values were
// encoded into tok by convert. It reports false if a string cell is not
// UTF-8 (checked here to read each string once).
func (c *csvReader) emit(b []byte, rec []string) ([]byte, bool) {
	prog, present := c.plan.prog, c.present
	comma := false
	for i := 0; i < len(prog); i++ {
		in := &prog[i]
		if in.op == opClose {
			b = append(b, in.text...)
			comma = true
			continue
		}
		if !present[in.id] {
			i = int(in.skip)
			continue
		}
		if comma {
			b = append(b, ',')
		}
		b = append(b, in.text...)
		switch in.op {
		case opOpen:
			comma = false
		case opString:
			var ok bool
			if b, ok = appendString(b, rec[in.col]); !ok {
				return b, false
			}
			comma = true
		case opValue:
			sp := c.span[in.col]
			b = append(b, c.tok[sp[0]:sp[1]]...)
			comma = true
		}
	}
	return b, true
}

func allBlank(rec []string) bool {
	for _, cell := range rec {
		if !isBlank(cell) {
			return false
		}
	}
	return true
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// isBlank reports whether a cell counts as empty: nothing, or only spaces,
// tabs and line breaks.
func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

// badUTF8 is the message for a cell that is not UTF-8 text.
const badUTF8 = "not valid UTF-8 text (save the file as UTF-8)"

// appendCell checks a non-empty cell for a typed leaf of kind k (anything
// but a string, which emit escapes and checks straight from the cell) and
// appends its JSON value, or returns a message saying why it cannot be one.
// Typed cells may have spaces around them; strings are kept exactly.
func appendCell(b []byte, k kind, bits int, cell string) ([]byte, string) {
	if k == kindString {
		return b, ""
	}
	if !utf8.ValidString(cell) {
		return b, badUTF8
	}
	t := strings.TrimSpace(cell)
	switch k {
	case kindFloat:
		return appendNumber(b, t, bits)
	case kindInt, kindUint:
		return appendWhole(b, k, bits, t)
	case kindBool:
		v, err := strconv.ParseBool(t)
		if err != nil {
			return b, fmt.Sprintf("%s is not true or false", quoteCell(t))
		}
		return strconv.AppendBool(b, v), ""
	case kindRaw:
		buf := bytes.NewBuffer(b)
		if err := json.Compact(buf, []byte(t)); err != nil {
			return b, "not valid JSON: " + err.Error()
		}
		return buf.Bytes(), ""
	}
	return b, "cannot be set from CSV"
}

// appendNumber appends the decimal number t as a JSON number with the digits
// as written: only a leading "+", leading zeros and a bare "." are dropped
// ("+007.50" → 7.50, ".5" → 0.5, "5." → 5).
func appendNumber(b []byte, t string, bits int) ([]byte, string) {
	e := decimalExp(t)
	if e < 0 {
		return b, fmt.Sprintf("%s is not a number (want digits with an optional . and exponent, e.g. 0.5)", quoteCell(t))
	}
	mant, exp, hasExp := t[:e], "", e < len(t)
	if hasExp {
		exp = t[e+1:]
	}
	// Without an exponent only a very long number can overflow; else ask.
	if hasExp || len(mant) > 30 {
		if _, err := strconv.ParseFloat(t, bits); err != nil {
			return b, fmt.Sprintf("%s is out of range", quoteCell(t))
		}
	}
	switch mant[0] { // isDecimal saw a digit, so mant is not empty
	case '-':
		b = append(b, '-')
		mant = mant[1:]
	case '+':
		mant = mant[1:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	b = append(b, intPart...)
	if frac != "" {
		b = append(b, '.')
		b = append(b, frac...)
	}
	if hasExp {
		b = append(b, 'e')
		b = append(b, exp...)
	}
	return b, ""
}

func appendWhole(b []byte, k kind, bits int, t string) ([]byte, string) {
	if k == kindInt {
		if v, err := strconv.ParseInt(t, 10, bits); err == nil {
			return strconv.AppendInt(b, v, 10), ""
		}
	} else if v, err := strconv.ParseUint(t, 10, bits); err == nil {
		return strconv.AppendUint(b, v, 10), ""
	}
	// Spreadsheets write 2 as "2.0" or "2E+00"; accept any whole number.
	if !isDecimal(t) {
		return b, fmt.Sprintf("%s is not a number (want a whole number, e.g. 2)", quoteCell(t))
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f != math.Trunc(f) {
		return b, fmt.Sprintf("%s is not a whole number", quoteCell(t))
	}
	lo, hi := -math.Ldexp(1, bits-1), math.Ldexp(1, bits-1) // [lo, hi)
	if k == kindUint {
		lo, hi = 0, math.Ldexp(1, bits)
	}
	if f < lo || f >= hi {
		return b, fmt.Sprintf("%s is out of range", quoteCell(t))
	}
	if f == 0 {
		f = 0 // no "-0" for a whole number
	}
	if k == kindUint {
		return strconv.AppendUint(b, uint64(f), 10), ""
	}
	return strconv.AppendInt(b, int64(f), 10), ""
}

// isDecimal reports whether s is a plain decimal number: an optional sign,
// digits with an optional fraction, and an optional exponent. It refuses what
// strconv.ParseFloat would also take but a spreadsheet user did not mean as
// a number: hex, underscores, "Inf", "NaN".
func isDecimal(s string) bool { return decimalExp(s) >= 0 }

// decimalExp returns where the exponent of the decimal number s starts
// (len(s) if it has none), or -1 if s is not a decimal number.
func decimalExp(s string) int {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return -1
	}
	e := i
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for ; i < len(s) && '0' <= s[i] && s[i] <= '9'; i++ {
			exp++
		}
		if exp == 0 {
			return -1
		}
	}
	if i != len(s) {
		return -1
	}
	return e
}

const hexDigits = "0123456789abcdef"

// plainByte[c] reports whether byte c stands for itself inside a JSON string
// (bytes of multi-byte UTF-8 sequences are checked apart).
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendString writes s as a JSON string. It reports false, and writes
// something unusable, if s is not valid UTF-8.
func appendString(b []byte, s string) ([]byte, bool) {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plainByte[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return b, false
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"'), true
}

// quoteCell quotes a cell for a message, cut short if long.
func quoteCell(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return strconv.Quote(s)
}

// limitReader bounds the memory a CSV file can make the parser use:
// encoding/csv has no limit of its own on a line or a row (a quote left open
// makes the rest of the file one cell). It fails a physical line longer than
// MaxLineBytes exactly, and a row longer than about MaxLineBytes: the bytes
// counted since the row began may include up to csvBufSize of read-ahead
// from the row before, so the row limit only fires above MaxLineBytes+csvBufSize.
type limitReader struct {
	r       io.Reader
	line    int  // 1-based line of the next byte
	lineLen int  // bytes of the current line so far, without "\n"
	lastCR  bool // the current line so far ends in "\r"
	row     int  // bytes since startRow
	err     error
}

func (l *limitReader) startRow() { l.row = 0 }

func (l *limitReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	for b := p[:n]; len(b) > 0; {
		i := bytes.IndexByte(b, '\n')
		seg := b
		if i >= 0 {
			seg = b[:i]
		}
		if len(seg) > 0 {
			l.lineLen += len(seg)
			l.lastCR = seg[len(seg)-1] == '\r'
		}
		if l.lineLen > MaxLineBytes+1 || i >= 0 && l.contentLen() > MaxLineBytes {
			l.err = fmt.Errorf("line %d: %w", l.line, ErrTooLong)
			return 0, l.err
		}
		if i < 0 {
			break
		}
		l.line++
		l.lineLen, l.lastCR = 0, false
		b = b[i+1:]
	}
	if err == io.EOF && l.contentLen() > MaxLineBytes {
		l.err = fmt.Errorf("line %d: %w", l.line, ErrTooLong)
		return 0, l.err
	}
	l.row += n
	if l.row > MaxLineBytes+csvBufSize {
		l.err = fmt.Errorf("line %d: a CSV row up to here is %w; is a quote left open?", l.line, ErrTooLong)
		return 0, l.err
	}
	return n, err
}

func (l *limitReader) contentLen() int {
	if l.lastCR {
		return l.lineLen - 1
	}
	return l.lineLen
}
