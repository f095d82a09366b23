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
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxIdempotencyKeyLen is the longest idempotencyKey accepted, in characters.
const MaxIdempotencyKeyLen = 255

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
// encoding/json it reports every problem at once: unknown fields (at any depth,
// since a field we do not carry would be silently lost), wrong types, and
// trailing data. It does not apply the documented rules; call Validate for that.
func DecodeLabelRequest(data []byte) (*LabelRequest, error) {
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
		return nil, &ValidationError{Details: []Detail{{Message: fmt.Sprintf("not valid JSON: invalid UTF-8 at byte %d", off)}}}
	}
	// Nearly every request is well formed: try the fast, strict decode
	// first, and walk the whole tree only to report what is wrong.
	if req, ok := decodeFast(data); ok {
		return req, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &ValidationError{Details: []Detail{{Message: "not valid JSON: " + jsonErrText(err)}}}
	}
	// Anything but JSON whitespace after the value is trailing data. (dec.Token
	// would report garbage such as "x" or "]" as an error, i.e. as no token.)
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, &ValidationError{Details: []Detail{{Message: "not valid JSON: unexpected data after the object"}}}
	}
	// encoding/json also turns an escaped lone UTF-16 surrogate ("\ud800")
	// into U+FFFD. The JSON is valid here, so every backslash is an escape
	// inside a string and every \u has four hex digits.
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
			return nil, &ValidationError{Details: []Detail{{Message: fmt.Sprintf("not valid JSON: lone UTF-16 surrogate %s at byte %d", data[i-1:i+5], i-1)}}}
		}
		i += 4
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, &ValidationError{Details: []Detail{{Message: "the request must be a JSON object"}}}
	}
	var details []Detail
	checkShape("", v, reflect.TypeFor[LabelRequest](), &details)
	if len(details) > 0 {
		return nil, &ValidationError{Details: details}
	}
	// The shape is right: fill the struct from the tree already decoded
	// rather than decoding the bytes a second time.
	var req LabelRequest
	if err := assign(reflect.ValueOf(&req).Elem(), v); err != nil {
		return nil, &ValidationError{Details: []Detail{{Message: err.Error()}}}
	}
	return &req, nil
}

// decodeFast decodes a request that has nothing wrong with it, with
// encoding/json's strict mode, and reports false for anything it cannot
// vouch for (the caller then runs the full check, which says what is wrong).
// encoding/json matches field names case-insensitively, so every object key
// must also be, byte for byte, one of the request's field names; inputs with
// escapes (which could hide a key's spelling, or a lone surrogate) are left
// to the full check.
func decodeFast(data []byte) (req *LabelRequest, ok bool) {
	// go-json is fast but younger than encoding/json: should it ever panic
	// on an input, fall back to the full check rather than crash.
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
	if req.Shipment != nil {
		for _, p := range req.Shipment.Parcels {
			for _, it := range p.Items {
				if it.Quantity > math.MaxInt32 || it.Quantity < math.MinInt32 {
					return nil, false
				}
			}
		}
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

// assign fills dst from a generically decoded value whose shape checkShape
// accepted. Raw JSON fields get the value re-encoded (same JSON, compact).
func assign(dst reflect.Value, v any) error {
	if v == nil {
		return nil
	}
	t := dst.Type()
	if t == rawMessageType {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		dst.SetBytes(b)
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if dst.IsNil() {
			dst.Set(reflect.New(t.Elem()))
		}
		return assign(dst.Elem(), v)
	case reflect.Struct:
		fields := jsonFields(t)
		for k, val := range v.(map[string]any) {
			if err := assign(dst.FieldByIndex(fields[k].Index), val); err != nil {
				return err
			}
		}
	case reflect.Slice:
		arr := v.([]any)
		s := reflect.MakeSlice(t, len(arr), len(arr))
		for i, e := range arr {
			if err := assign(s.Index(i), e); err != nil {
				return err
			}
		}
		dst.Set(s)
	case reflect.String:
		dst.SetString(v.(string))
	case reflect.Float64:
		f, err := v.(json.Number).Float64()
		if err != nil {
			return err
		}
		dst.SetFloat(f)
	case reflect.Int:
		n, err := strconv.ParseInt(v.(json.Number).String(), 10, 64)
		if err != nil {
			return err
		}
		dst.SetInt(n)
	}
	return nil
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
		n, ok := v.(json.Number)
		if !ok {
			bad("a number")
			return
		}
		if f, err := n.Float64(); err != nil || math.IsInf(f, 0) {
			*details = append(*details, Detail{Field: path, Message: "number out of range"})
		}
	case reflect.Int:
		n, ok := v.(json.Number)
		if !ok {
			bad("a whole number")
			return
		}
		if _, err := strconv.ParseInt(n.String(), 10, 32); err != nil {
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

// Validate applies the documented rules: the required fields, ISO 3166-1
// alpha-2 country codes, weight > 0, at least one parcel, and an
// idempotencyKey of 1–255 printable characters. It reports every problem.
// Values the API decides per account (courier and product codes) are not checked.
func (r *LabelRequest) Validate() error {
	var d []Detail
	add := func(field, msg string) { d = append(d, Detail{Field: field, Message: msg}) }

	switch n := utf8.RuneCountInString(r.IdempotencyKey); {
	case n == 0:
		add("idempotencyKey", "is required")
	case n > MaxIdempotencyKeyLen:
		add("idempotencyKey", fmt.Sprintf("must be at most %d characters, got %d", MaxIdempotencyKeyLen, n))
	case !utf8.ValidString(r.IdempotencyKey) || strings.IndexFunc(r.IdempotencyKey, func(c rune) bool { return !unicode.IsPrint(c) }) >= 0:
		add("idempotencyKey", "must contain printable characters only")
	}
	if r.Courier == "" {
		add("courier", "is required")
	}
	if r.Service == nil {
		add("service", "is required")
	} else if r.Service.ProductCode == "" {
		add("service.productCode", "is required")
	}
	if r.Shipment == nil {
		add("shipment", "is required")
	} else {
		s := r.Shipment
		validateParty(&d, "shipment.shipTo", s.ShipTo)
		validateParty(&d, "shipment.shipFrom", s.ShipFrom)
		if len(s.Parcels) == 0 {
			add("shipment.parcels", "must contain at least one parcel")
		}
		for i, p := range s.Parcels {
			if !(p.Weight > 0) {
				add(fmt.Sprintf("shipment.parcels[%d].weight", i), "must be greater than 0")
			}
		}
	}
	for i, o := range r.ServiceOptions {
		if o.Code == "" {
			add(fmt.Sprintf("serviceOptions[%d].code", i), "is required")
		}
	}
	if len(d) > 0 {
		return &ValidationError{Details: d}
	}
	return nil
}

func validateParty(d *[]Detail, path string, p *Party) {
	if p == nil {
		*d = append(*d, Detail{Field: path, Message: "is required"})
		return
	}
	if p.Address == nil {
		*d = append(*d, Detail{Field: path + ".address", Message: "is required"})
		return
	}
	cc := p.Address.CountryCode
	switch {
	case cc == "":
		*d = append(*d, Detail{Field: path + ".address.countryCode", Message: "is required"})
	case !IsCountryCode(cc):
		*d = append(*d, Detail{Field: path + ".address.countryCode", Message: fmt.Sprintf("must be an ISO 3166-1 alpha-2 code, got %q", cc)})
	}
}

// ParseLabelRequest decodes and validates in one step, reporting the
// problems of whichever step fails first (a request of the wrong shape cannot
// be validated).
func ParseLabelRequest(data []byte) (*LabelRequest, error) {
	req, err := DecodeLabelRequest(data)
	if err != nil {
		return nil, err
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	return req, nil
}
