package flexapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	gojson "github.com/goccy/go-json"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// ValidationError lists every problem found in a request, in the API's
// details[] shape with the API's own field paths (shipment.parcels[0].weight).
type ValidationError struct {
	Details []Detail
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Details))
	for i, d := range e.Details {
		if d.Field == "" {
			parts[i] = d.Message
		} else {
			parts[i] = d.Field + ": " + d.Message
		}
	}
	return "invalid label request: " + strings.Join(parts, "; ")
}

// DecodeLabelRequest parses a producer's JSON into a LabelRequest. Unlike
// encoding/json it reports every problem of the shape at once: unknown fields
// (at any depth, since a field we do not carry would be silently lost), wrong
// types, and trailing data. It does not apply the documented rules; call
// Validate for that, or ParseLabelRequest for both at once.
func DecodeLabelRequest(data []byte) (*LabelRequest, error) {
	req, details := decode(data)
	if len(details) > 0 {
		return nil, &ValidationError{Details: details}
	}
	return req, nil
}

// decode parses data strictly and returns its shape problems. Unless data is
// not a JSON object at all, it also returns the request filled from every
// part whose shape is right, so that the rules can be checked on a request
// whose shape is wrong too (ParseLabelRequest).
func decode(data []byte) (*LabelRequest, []Detail) {
	// Nearly every request is well formed: try the fast, strict decode
	// first, and walk the whole tree only to report what is wrong.
	if utf8.Valid(data) {
		if req, ok := decodeFast(data); ok {
			return req, nil
		}
	}
	return decodeFull(data)
}

// decodeFull is the full check: it walks the whole parse tree, reports every
// shape problem with its path, and fills what fits. The fast path must never
// accept what this refuses (FuzzDecodeFast_AgreesWithFullCheck).
func decodeFull(data []byte) (*LabelRequest, []Detail) {
	notJSON := func(msg string) (*LabelRequest, []Detail) {
		return nil, []Detail{{Message: "not valid JSON: " + msg}}
	}
	// JSON text is UTF-8 (RFC 8259 §8.1); encoding/json would silently turn
	// invalid bytes into U+FFFD, changing an idempotency key or an address.
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, n := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			off += n
		}
		return notJSON(fmt.Sprintf("invalid UTF-8 at byte %d", off))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return notJSON(jsonErrText(err))
	}
	// Anything but JSON whitespace after the value is trailing data. (dec.Token
	// would report garbage such as "x" or "]" as an error, i.e. as no token.)
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) > 0 {
		return notJSON("unexpected data after the object")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, []Detail{{Message: "the request must be a JSON object"}}
	}
	// encoding/json also turns an escaped lone UTF-16 surrogate ("\ud800")
	// into U+FFFD. The JSON is valid here, so every backslash is an escape
	// inside a string and every \u has four hex digits. The rest of the
	// request can still be checked, so this is one problem among others.
	var details []Detail
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		i++
		if data[i] != 'u' {
			continue
		}
		r, _ := strconv.ParseUint(string(data[i+1:i+5]), 16, 32)
		if utf16.IsSurrogate(rune(r)) && r < 0xdc00 && i+10 < len(data) && data[i+5] == '\\' && data[i+6] == 'u' {
			if lo, _ := strconv.ParseUint(string(data[i+7:i+11]), 16, 32); lo >= 0xdc00 && lo <= 0xdfff {
				i += 10 // a valid pair
				continue
			}
		}
		if utf16.IsSurrogate(rune(r)) {
			details = append(details, Detail{Message: fmt.Sprintf("not valid JSON: lone UTF-16 surrogate %s at byte %d", data[i-1:i+5], i-1)})
			break
		}
		i += 4
	}
	checkShape("", v, reflect.TypeFor[LabelRequest](), &details)
	// Fill the struct from the tree already decoded rather than decoding
	// the bytes a second time; what does not fit is left out.
	var req LabelRequest
	assign(reflect.ValueOf(&req).Elem(), v)
	return &req, details
}

// decodeFast decodes a request that has nothing wrong with it, with
// go-json's strict mode (encoding/json's semantics), and reports false for
// anything it cannot vouch for (the caller then runs the full check, which
// says what is wrong). Both match field names case-insensitively, so every
// object key must also be, byte for byte, one of the request's field names;
// inputs with escapes (which could hide a key's spelling, or a lone
// surrogate) are left to the full check.
//
// go-json rather than encoding/json: it halves the decode, which is most of
// a bulk enqueue's CPU (BenchmarkDecode; docs/PERFORMANCE.md).
func decodeFast(data []byte) (req *LabelRequest, ok bool) {
	// go-json is younger than encoding/json: should it ever panic on an
	// input, fall back to the full check rather than crash.
	defer func() {
		if recover() != nil {
			req, ok = nil, false
		}
	}()
	if bytes.IndexByte(data, '\\') >= 0 {
		return nil, false
	}
	t := bytes.TrimLeft(data, " \t\r\n")
	if len(t) == 0 || t[0] != '{' || !keysExact(t) {
		return nil, false
	}
	dec := gojson.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	req = new(LabelRequest)
	if dec.Decode(req) != nil {
		return nil, false
	}
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, false
	}
	return req, true
}

// knownNames is every JSON field name of the request's structs.
var knownNames = func() map[string]struct{} {
	names := map[string]struct{}{}
	folded := map[string]string{}
	var walk func(t reflect.Type)
	seen := map[reflect.Type]bool{}
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for name, f := range buildJSONFields(t) {
			if other, ok := folded[strings.ToLower(name)]; ok && other != name {
				// keysExact relies on no two names differing only in case.
				panic("flexapi: field names " + name + " and " + other + " differ only in case")
			}
			folded[strings.ToLower(name)] = name
			names[name] = struct{}{}
			if f.Type != rawMessageType {
				walk(f.Type)
			}
		}
	}
	walk(reflect.TypeFor[LabelRequest]())
	return names
}()

// keysExact reports whether every object key in data (JSON without
// escapes) is one of knownNames, exactly. Keys of raw JSON objects
// (customs, …) are checked too, so a request with unusual keys there takes
// the full path; that is only slower.
func keysExact(data []byte) bool {
	for i := 0; i < len(data); i++ {
		if data[i] != '"' {
			continue
		}
		end := bytes.IndexByte(data[i+1:], '"')
		if end < 0 {
			return false
		}
		str := data[i+1 : i+1+end]
		i += end + 1
		j := i + 1
		for j < len(data) && (data[j] == ' ' || data[j] == '\t' || data[j] == '\n' || data[j] == '\r') {
			j++
		}
		if j < len(data) && data[j] == ':' {
			if _, ok := knownNames[string(str)]; !ok {
				return false
			}
		}
	}
	return true
}

// assign fills dst from a generically decoded value and reports whether the
// value fitted. Where it does not (checkShape reports why), dst is left as it
// is, so the rest of a request whose shape is wrong is still filled and its
// rules can be checked. Raw JSON fields get the value re-encoded (same JSON,
// compact).
func assign(dst reflect.Value, v any) bool {
	if v == nil {
		return false
	}
	t := dst.Type()
	if t == rawMessageType {
		b, err := json.Marshal(v) // cannot fail for a decoded value
		if err != nil {
			return false
		}
		dst.SetBytes(b)
		return true
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if !assign(p.Elem(), v) {
			return false
		}
		dst.Set(p)
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return false
		}
		fields := jsonFields(t)
		for k, val := range obj {
			if f, ok := fields[k]; ok {
				assign(dst.FieldByIndex(f.Index), val)
			}
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return false
		}
		s := reflect.MakeSlice(t, len(arr), len(arr))
		for i, e := range arr {
			assign(s.Index(i), e)
		}
		dst.Set(s)
	case reflect.String:
		str, ok := v.(string)
		if !ok {
			return false
		}
		dst.SetString(str)
	case reflect.Float64:
		f, ok := floatOf(v)
		if !ok {
			return false
		}
		dst.SetFloat(f)
	case reflect.Int:
		n, ok := intOf(v)
		if !ok {
			return false
		}
		dst.SetInt(n)
	default:
		return false
	}
	return true
}

// floatOf is v as a float64 field holds it: a JSON number within float64's
// range.
func floatOf(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil && !math.IsInf(f, 0)
}

// intOf is v as an int field holds it: a whole JSON number within int's
// range (written without fraction or exponent, as encoding/json wants it).
func intOf(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(n.String(), 10, strconv.IntSize)
	return i, err == nil
}

func jsonErrText(err error) string {
	var se *json.SyntaxError
	if errorsAs(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	return err.Error()
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// checkShape walks a generically decoded JSON value against the Go type it
// must fill, recording unknown fields and type mismatches with their paths.
// The types mirror the documented request ["POST /labels request"]: "any
// other top-level field is a 400", and phones and postal codes are strings.
// Deeper down the docs do not say what the API does with an unknown field,
// but we could not carry it (the types have no place for it), so sending the
// request without it would silently change it; refusing is the honest answer.
func checkShape(path string, v any, t reflect.Type, details *[]Detail) {
	if v == nil || t == rawMessageType {
		return // null leaves the field absent; raw JSON is carried untouched
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	bad := func(want string) {
		*details = append(*details, Detail{Field: path, Message: "must be " + want + ", got " + jsonKind(v)})
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			bad("an object")
			return
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sub := joinPath(path, k)
			f, ok := fields[k]
			if !ok {
				*details = append(*details, Detail{Field: sub, Message: "unknown field"})
				continue
			}
			checkShape(sub, obj[k], f.Type, details)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			bad("an array")
			return
		}
		for i, e := range arr {
			checkShape(fmt.Sprintf("%s[%d]", path, i), e, t.Elem(), details)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			bad("a string")
		}
	case reflect.Float64:
		if _, ok := v.(json.Number); !ok {
			bad("a number")
			return
		}
		// Not a rule of the API's: a number float64 cannot hold cannot be
		// carried (json.Marshal refuses infinities).
		if _, ok := floatOf(v); !ok {
			*details = append(*details, Detail{Field: path, Message: "number out of range"})
		}
	case reflect.Int:
		if _, ok := v.(json.Number); !ok {
			bad("a whole number")
			return
		}
		// quantity is a whole number in the docs' examples; one that int
		// cannot hold cannot be carried.
		if _, ok := intOf(v); !ok {
			*details = append(*details, Detail{Field: path, Message: "must be a whole number"})
		}
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.StructField

// jsonFields maps JSON names to struct fields (computed once per type).
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.StructField)
	}
	m := buildJSONFields(t)
	fieldCache.Store(t, m)
	return m
}

func buildJSONFields(t reflect.Type) map[string]reflect.StructField {
	m := make(map[string]reflect.StructField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f
	}
	return m
}
