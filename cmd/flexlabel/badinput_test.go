package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// badLine is one malformed producer line and, when known, the field path a
// detail of its refusal must name.
type badLine struct {
	name  string
	line  []byte
	field string
}

// badPath is a path into a decoded JSON document: object keys (string) and
// array indexes (int).
type badPath []any

// String renders the path as the API's details[] do: shipment.parcels[0].weight.
func (p badPath) String() string {
	var b strings.Builder
	for _, e := range p {
		switch e := e.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(e)
		case int:
			fmt.Fprintf(&b, "[%d]", e)
		}
	}
	return b.String()
}

func badDecodeDoc(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v))
	return v
}

// badWalkDoc calls fn for every value of doc but the root, parents first.
func badWalkDoc(doc any, path badPath, fn func(badPath, any)) {
	if len(path) > 0 {
		fn(path, doc)
	}
	switch v := doc.(type) {
	case map[string]any:
		for k, e := range v {
			badWalkDoc(e, append(path[:len(path):len(path)], k), fn)
		}
	case []any:
		for i, e := range v {
			badWalkDoc(e, append(path[:len(path):len(path)], i), fn)
		}
	}
}

// badWithValue returns base with the value at path replaced by the raw JSON v.
func badWithValue(t *testing.T, base []byte, path badPath, v string) []byte {
	t.Helper()
	doc := badDecodeDoc(t, base)
	repl := badDecodeDoc(t, []byte(v))
	cur := doc
	for i, e := range path {
		last := i == len(path)-1
		switch e := e.(type) {
		case string:
			if last {
				cur.(map[string]any)[e] = repl
			} else {
				cur = cur.(map[string]any)[e]
			}
		case int:
			if last {
				cur.([]any)[e] = repl
			} else {
				cur = cur.([]any)[e]
			}
		}
	}
	out, err := json.Marshal(doc)
	require.NoError(t, err)
	return out
}

// badLines generates the malformed lines systematically from one valid request.
func badLines(t *testing.T) []badLine {
	t.Helper()
	valid := queuetest.RequestJSON("bad-0001", "")
	var out []badLine
	add := func(name string, line []byte, field string) {
		out = append(out, badLine{name: name, line: line, field: field})
	}

	// Truncations at many byte offsets (every 5th byte, and the last few).
	for i := 1; i < len(valid); i += 5 {
		add(fmt.Sprintf("truncated at byte %d", i), valid[:i], "")
	}
	for i := len(valid) - 4; i < len(valid); i++ {
		add(fmt.Sprintf("truncated at byte %d", i), valid[:i], "")
	}

	// Wrong types in every field, and nested arrays where objects belong.
	doc := badDecodeDoc(t, valid)
	var paths []badPath
	kinds := map[string]string{}
	badWalkDoc(doc, nil, func(p badPath, v any) {
		paths = append(paths, p)
		switch v.(type) {
		case string:
			kinds[p.String()] = "string"
		case json.Number:
			kinds[p.String()] = "number"
		case map[string]any:
			kinds[p.String()] = "object"
		case []any:
			kinds[p.String()] = "array"
		}
	})
	wrong := map[string][]string{
		"string": {`1`, `true`, `{}`, `["x"]`},
		"number": {`"1"`, `true`, `{}`, `[1]`},
		"object": {`"x"`, `1`, `[]`, `[{}]`, `[[{}]]`},
		"array":  {`"x"`, `1`, `{}`, `[[["x"]]]`},
	}
	for _, p := range paths {
		kind := kinds[p.String()]
		for _, v := range wrong[kind] {
			field := p.String()
			if kind == "array" && strings.HasPrefix(v, "[") {
				field = p.String() + "[0]" // the element is what is wrong
			}
			add(fmt.Sprintf("%s (%s) set to %s", p, kind, v), badWithValue(t, valid, p, v), field)
		}
	}

	// Unknown fields at every depth (every object of the request).
	for _, p := range append([]badPath{nil}, paths...) {
		if p != nil && kinds[p.String()] != "object" {
			continue
		}
		for _, name := range []string{"bogus", "IdempotencyKey"} {
			if p == nil && name == "IdempotencyKey" {
				name = "Courier" // encoding/json would match it case-insensitively
			}
			obj := badDecodeDoc(t, valid)
			cur := obj
			for _, e := range p {
				switch e := e.(type) {
				case string:
					cur = cur.(map[string]any)[e]
				case int:
					cur = cur.([]any)[e]
				}
			}
			cur.(map[string]any)[name] = json.Number("1")
			line, err := json.Marshal(obj)
			require.NoError(t, err)
			field := append(p[:len(p):len(p)], name).String()
			add("unknown field "+field, line, field)
		}
	}
	add("_deadLetter below the top level", bytes.Replace(valid, []byte(`"parcels":[`), []byte(`"_deadLetter":{},"parcels":[`), 1), "shipment._deadLetter")

	// Not UTF-8 (JSON text must be UTF-8; encoding/json would turn these into U+FFFD).
	for _, nb := range []struct{ name, from, to string }{
		{"0xff in the key", `"bad-0001"`, "\"bad-\xff001\""},
		{"Latin-1 é in the city", `"Edison"`, "\"Ed\xe9son\""},
		{"truncated multi-byte character", "文具", "\xe6\x96"},
		{"lone continuation byte", `"Alex"`, "\"Al\x80ex\""},
		{"overlong encoding of /", `"Smith"`, "\"Sm\xc0\xafith\""},
		{"UTF-16 surrogate in UTF-8", `"Doe"`, "\"D\xed\xa0\x80oe\""},
		{"beyond U+10FFFF", `"Habucho"`, "\"Ha\xf5\x80\x80\x80bucho\""},
		{"0xfe between tokens", `,"courier"`, ",\xfe\"courier\""},
		{"0xc3 at the very end", string(valid), string(valid) + "\xc3"},
		{"invalid bytes in a field name", `"city"`, "\"c\xffity\""},
	} {
		line := bytes.Replace(valid, []byte(nb.from), []byte(nb.to), 1)
		require.NotEqual(t, string(valid), string(line), nb.name)
		add("not UTF-8: "+nb.name, line, "")
	}

	// Huge (and otherwise impossible) numbers.
	weight := badPath{"shipment", "parcels", 0, "weight"}
	quantity := badPath{"shipment", "parcels", 0, "items", 0, "quantity"}
	amount := badPath{"shipment", "parcels", 0, "items", 0, "unitPrice", "amount"}
	length := badPath{"shipment", "parcels", 0, "dimension", "length"}
	for _, h := range []struct {
		path badPath
		v    string
	}{
		{weight, "1e400"}, {weight, "-1e400"}, {weight, "1e99999999"}, {weight, "1" + strings.Repeat("0", 400)},
		{weight, "0"}, {weight, "-0.5"},
		{quantity, "9223372036854775808"}, {quantity, "-9223372036854775809"},
		{quantity, "1" + strings.Repeat("0", 100)}, {quantity, "1.5"}, {quantity, "1e3"},
		{amount, "1e309"}, {length, "-1e309"},
	} {
		line := bytes.Replace(badWithValue(t, valid, h.path, "0.123456789"), []byte("0.123456789"), []byte(h.v), 1)
		add(fmt.Sprintf("%s = %s", h.path, h.v[:min(len(h.v), 20)]), line, h.path.String())
	}

	// Control characters in the key, raw: not JSON (RFC 8259 §7). Escaped,
	// or a key of any length, they are no rule of the docs' (see
	// TestCLI_Enqueue_KeysTheDocsAllow_Accepted).
	key := badPath{"idempotencyKey"}
	for _, c := range []string{"\x00", "\x01", "\x08", "\x1b", "\x1f", "\t"} {
		raw := bytes.Replace(valid, []byte(`"bad-0001"`), []byte(`"bad-`+c+`0001"`), 1)
		add(fmt.Sprintf("raw %q in the key", c), raw, "")
	}
	// A lone UTF-16 surrogate: encoding/json would turn it into U+FFFD.
	for _, esc := range []string{`\ud800`, `\udfff`, `\ud83d\u0041`} {
		add("escaped lone surrogate "+esc+" in the key", bytes.Replace(valid, []byte(`"bad-0001"`), []byte(`"bad-`+esc+`0001"`), 1), "")
	}
	add("empty key", badWithValue(t, valid, key, `""`), key.String())

	// Not a request at all.
	for _, s := range []string{
		`null`, `true`, `42`, `"a string"`, `[]`, `[` + string(valid) + `]`, `{}`, `{"idempotencyKey":"k"}`,
		string(valid) + `x`, string(valid) + string(valid), string(valid) + `}`, `}`, `]`, `{{}}`,
		`{"idempotencyKey":"k",}`, `{'idempotencyKey':'k'}`, `{idempotencyKey:"k"}`, "\x00", "not json",
		`{"idempotencyKey":"k" "courier":"c"}`, `{"a":` + strings.Repeat("[", 10_001) + strings.Repeat("]", 10_001) + `}`,
	} {
		add("not a request: "+s[:min(len(s), 30)], []byte(s), "")
	}
	return out
}

// requireNothingWritten fails if any key of the namespace exists in Redis.
func requireNothingWritten(t *testing.T, c *cli) {
	t.Helper()
	opts, err := redis.ParseURL(c.env["REDIS_URL"])
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	ns := c.env["FLEXLABEL_QUEUE"]
	for _, pattern := range queuetest.KeyPatterns(ns) {
		keys, err := rdb.Keys(ctx, pattern).Result()
		require.NoError(t, err)
		require.Empty(t, keys, "keys written under %s", pattern)
	}
	for _, q := range []string{ns, ns + "-bulk"} {
		require.False(t, queuetest.Registered(t, rdb, q), "queue %s registered with asynq", q)
	}
}

func requireRefused(t *testing.T, got map[string]any, bl badLine) {
	t.Helper()
	require.Equal(t, "invalid", got["outcome"], "%s: %q", bl.name, bl.line[:min(len(bl.line), 200)])
	msg, _ := got["error"].(string)
	require.NotEmpty(t, msg, bl.name)
	if bl.field == "" {
		return
	}
	details, _ := got["details"].([]any)
	var fields []string
	for _, d := range details {
		fields = append(fields, d.(map[string]any)["field"].(string))
	}
	require.Contains(t, fields, bl.field, "%s: details %v", bl.name, details)
}

func TestCLI_Enqueue_MalformedLines_AllInvalid_NothingWritten(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	cases := badLines(t)
	require.GreaterOrEqual(t, len(cases), 300)

	// One NDJSON stream with blank lines mixed in: one refusal per non-blank
	// line, in order. A complete first line keeps the input NDJSON.
	first := badLine{name: "first line", line: []byte(`{"idempotencyKey":1}`), field: "idempotencyKey"}
	cases = append([]badLine{first}, cases...)
	blanks := []string{"", "   ", "\t", "\r", " \t \r"}
	var in bytes.Buffer
	for i, bl := range cases {
		require.False(t, bytes.ContainsAny(bl.line, "\n"), bl.name)
		in.Write(bl.line)
		in.WriteByte('\n')
		if i%7 == 3 {
			in.WriteString(blanks[i%len(blanks)] + "\n")
		}
	}
	r := c.run(t, in.String(), "enqueue")
	require.Equal(t, exitRefused, r.code, r.stderr)
	require.Contains(t, r.stderr, fmt.Sprintf("%d request(s) refused", len(cases)))
	got := lines(t, r.stdout)
	require.Len(t, got, len(cases))
	for i, bl := range cases {
		requireRefused(t, got[i], bl)
	}
	t.Logf("%d malformed lines refused, each with an error", len(cases))

	// Every 9th line alone (the first line of an input takes another path:
	// an incomplete object may be a pretty-printed request).
	for i := 1; i < len(cases); i += 9 {
		r := c.run(t, string(cases[i].line), "enqueue")
		require.Equal(t, exitRefused, r.code, "%s: %s", cases[i].name, r.stderr)
		got := lines(t, r.stdout)
		require.Len(t, got, 1, cases[i].name)
		requireRefused(t, got[0], cases[i])
	}

	// Empty input: nothing to do.
	r = c.run(t, "\n  \n\t\n", "enqueue")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Empty(t, r.stdout)

	requireNothingWritten(t, c)
}

// badBigRequest is a valid-shaped request whose customer order number makes it
// about size bytes long on one line.
func badBigRequest(t *testing.T, key string, size int) []byte {
	t.Helper()
	base := queuetest.RequestJSON(key, "")
	return badWithValue(t, base, badPath{"order", "customerOrderNumber"}, strconv.Quote(strings.Repeat("N", size-len(base))))
}

func TestCLI_Enqueue_OversizedInput_RefusedWithClearMessage(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	const limit = "longer than 1048576 bytes"

	t.Run("a 2 MiB line after a bad one", func(t *testing.T) {
		in := `{"idempotencyKey":1}` + "\n" + string(badBigRequest(t, "big-2m", 2<<20)) + "\n"
		r := c.run(t, in, "enqueue")
		require.Equal(t, exitOperational, r.code, r.stderr)
		require.Contains(t, r.stderr, limit)
		require.Len(t, lines(t, r.stdout), 1, "the line before it was answered")
	})
	t.Run("a 2 MiB line alone", func(t *testing.T) {
		r := c.run(t, string(badBigRequest(t, "big-2m", 2<<20)), "enqueue")
		require.Equal(t, exitOperational, r.code, r.stderr)
		require.Contains(t, r.stderr, limit)
		require.Empty(t, r.stdout)
	})
	t.Run("a 2 MiB unterminated string", func(t *testing.T) {
		r := c.run(t, `{"idempotencyKey":"`+strings.Repeat("k", 2<<20), "enqueue")
		require.Equal(t, exitOperational, r.code, r.stderr)
		require.Contains(t, r.stderr, limit)
		require.Empty(t, r.stdout)
	})
	t.Run("a 1.1 MiB body on one line", func(t *testing.T) {
		r := c.run(t, string(badBigRequest(t, "big-1m", 11<<20/10)), "enqueue")
		require.Equal(t, exitOperational, r.code, r.stderr)
		require.Contains(t, r.stderr, limit)
		require.Empty(t, r.stdout)
	})
	t.Run("a 1.1 MiB pretty-printed body", func(t *testing.T) {
		// Many short lines: each line is short, the request is not.
		var v map[string]any
		require.NoError(t, json.Unmarshal(queuetest.RequestJSON("big-pretty", ""), &v))
		refs := make([]string, 70_000)
		for i := range refs {
			refs[i] = fmt.Sprintf("R-%07d", i)
		}
		v["order"].(map[string]any)["orderNumbers"].(map[string]any)["referenceNumbers"] = refs
		pretty, err := json.MarshalIndent(v, "", "  ")
		require.NoError(t, err)
		require.Greater(t, len(pretty), 11<<20/10)
		r := c.run(t, string(pretty), "enqueue")
		require.Equal(t, exitOperational, r.code, "stderr: %s\nstdout (first 300 bytes): %s", r.stderr, r.stdout[:min(len(r.stdout), 300)])
		require.Contains(t, r.stderr, limit)
		require.Empty(t, r.stdout, "refused as a whole, not line by line")
	})
	requireNothingWritten(t, c)
}

// An NDJSON input whose first line is broken is still read line by line when
// it is longer than a request may be: only one pretty-printed request over
// the limit is refused as a whole.
func TestCLI_Enqueue_BrokenFirstLineThenOver1MiB_EachLineAnswered(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	valid := queuetest.RequestJSON("ndjson-0", "")
	var in bytes.Buffer
	in.Write(valid[:len(valid)/2])
	in.WriteByte('\n')
	n := 0
	for in.Len() <= 11<<20/10 {
		in.Write(queuetest.RequestJSON(fmt.Sprintf("ndjson-%05d", n), ""))
		in.WriteByte('\n')
		n++
	}
	r := c.run(t, in.String(), "enqueue")
	require.Equal(t, exitRefused, r.code, r.stderr)
	got := lines(t, r.stdout)
	require.Len(t, got, n+1)
	require.Equal(t, "invalid", got[0]["outcome"])
	for _, g := range got[1:] {
		require.Equal(t, "enqueued", g["outcome"], g)
	}
}
