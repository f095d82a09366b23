package bulkfile

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/flexlabel/flexlabel/flexapi"
)

// maxIndex is the largest array index a CSV header may name.
const maxIndex = 99

// kind is what a JSON path leads to, and so how a cell there is typed.
type kind uint8

const (
	kindObject kind = iota
	kindArray
	kindString
	kindFloat
	kindInt
	kindUint
	kindBool
	kindRaw
	kindUnsupported
)

func (k kind) isLeaf() bool { return k >= kindString }

func (k kind) String() string {
	switch k {
	case kindObject:
		return "an object"
	case kindArray:
		return "an array"
	case kindString:
		return "a string"
	case kindFloat:
		return "a number"
	case kindInt, kindUint:
		return "a whole number"
	case kindBool:
		return "true or false"
	case kindRaw:
		return "raw JSON"
	}
	return "a value CSV cannot express"
}

// schema is the shape of a Go type as JSON: what encoding/json would read.
type schema struct {
	kind   kind
	bits   int     // numbers: the range the field accepts
	fields []field // kindObject, in struct order
	elem   *schema // kindArray
}

type field struct {
	name string
	s    *schema
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// requestSchema is flexapi.LabelRequest's shape, derived once.
var requestSchema = sync.OnceValue(func() *schema {
	return schemaOf(reflect.TypeFor[flexapi.LabelRequest](), map[reflect.Type]*schema{})
})

func schemaOf(t reflect.Type, seen map[reflect.Type]*schema) *schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s, ok := seen[t]; ok {
		return s
	}
	s := &schema{}
	seen[t] = s
	switch t.Kind() {
	case reflect.Struct:
		s.kind = kindObject
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			s.fields = append(s.fields, field{name: name, s: schemaOf(f.Type, seen)})
		}
	case reflect.Slice, reflect.Array:
		if t == rawMessageType {
			s.kind = kindRaw
			break
		}
		s.kind = kindArray
		s.elem = schemaOf(t.Elem(), seen)
	case reflect.String:
		s.kind = kindString
	case reflect.Float32, reflect.Float64:
		s.kind, s.bits = kindFloat, t.Bits()
	case reflect.Int:
		// flexapi.DecodeLabelRequest accepts an int field in int's range;
		// refuse the same cells here, with the column's name.
		s.kind, s.bits = kindInt, t.Bits()
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s.kind, s.bits = kindInt, t.Bits()
	case reflect.Uint:
		s.kind, s.bits = kindUint, 32
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s.kind, s.bits = kindUint, t.Bits()
	case reflect.Bool:
		s.kind = kindBool
	default:
		s.kind = kindUnsupported
	}
	return s
}

func (s *schema) fieldNames() string {
	names := make([]string, len(s.fields))
	for i, f := range s.fields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// node is one value of the request a header fills: an object, an array, or
// a leaf fed by one column. The tree holds only what some column reaches.
type node struct {
	kind     kind
	bits     int
	key      string // `"name":` when the parent is an object
	path     string // JSON path, for messages
	order    int    // field position or array index within the parent
	parent   *node
	children []*node // in field order or index order
	id       int     // index into the per-row "present" marks
	col      int     // leaves: 0-based column
	firstCol int     // the first column (in file order) below this node
}

func (n *node) child(order int) *node {
	for _, c := range n.children {
		if c.order == order {
			return c
		}
	}
	return nil
}

// step is one resolved segment of a column's path.
type step struct {
	order int // field position or index
	name  string
	s     *schema
	index bool
}

// plan is a compiled header: how to turn a row into a request.
type plan struct {
	root   *node
	leaves []*node // per column
	arrays []*node // every array node, for the hole check
	nodes  int
	prog   []instr // the request's JSON, written by csvReader.emit
}

// An instr writes one piece of a request: an object or array opening, a
// value, or a closing. Every node is written only if the row fills it; when
// it does not, emit jumps past it (to skip).
type instr struct {
	op   opcode
	text string // opOpen: `"key":{` or `[`…; opClose: "}" or "]"; values: `"key":` or ""
	id   int32  // the node, whose present mark decides
	skip int32  // where to continue when the node is empty: its opClose, or itself
	col  int32  // values: the column
}

type opcode uint8

const (
	opOpen opcode = iota
	opClose
	opString // escape the cell
	opValue  // copy the value convert encoded
)

// compile checks every column of header and builds the plan, or returns a
// *HeaderError listing every bad column.
func compile(header []string) (*plan, error) {
	var probs []Problem
	bad := func(col int, name, format string, args ...any) {
		probs = append(probs, Problem{Column: col + 1, Name: name, Message: fmt.Sprintf(format, args...)})
	}
	root := &node{kind: kindObject, firstCol: -1}
	p := &plan{root: root, leaves: make([]*node, len(header))}
	firstOf := map[string]int{}
	for col, name := range header {
		if name == "" {
			bad(col, name, "empty column name; remove the column or name a request field")
			continue
		}
		if first, ok := firstOf[name]; ok {
			bad(col, name, "duplicate of column %d", first+1)
			continue
		}
		firstOf[name] = col
		steps, msg := resolve(name)
		if msg != "" {
			bad(col, name, "%s", msg)
			continue
		}
		p.leaves[col] = p.insert(steps, col)
	}
	// Arrays have no holes: an element exists only if the one before it can.
	p.walk(root, func(n *node) {
		if n.kind != kindArray {
			return
		}
		p.arrays = append(p.arrays, n)
		for i, c := range n.children {
			if c.order != i {
				bad(c.firstCol, header[c.firstCol], "no column for %s[%d]: array elements must be numbered from [0] without gaps", n.path, i)
				break
			}
		}
	})
	if len(probs) > 0 {
		slices.SortStableFunc(probs, func(a, b Problem) int { return cmp.Compare(a.Column, b.Column) })
		return nil, &HeaderError{Problems: probs}
	}
	p.walk(root, func(n *node) { n.id = p.nodes; p.nodes++ })
	p.prog = p.program(root, nil)
	return p, nil
}

// program lists the instructions that write n, in struct-field and index
// order.
func (p *plan) program(n *node, prog []instr) []instr {
	switch n.kind {
	case kindObject, kindArray:
		open, close := "{", "}"
		if n.kind == kindArray {
			open, close = "[", "]"
		}
		at := len(prog)
		prog = append(prog, instr{op: opOpen, text: n.key + open, id: int32(n.id)})
		for _, c := range n.children {
			prog = p.program(c, prog)
		}
		prog[at].skip = int32(len(prog))
		return append(prog, instr{op: opClose, text: close, id: int32(n.id)})
	}
	op := opValue
	if n.kind == kindString {
		op = opString
	}
	return append(prog, instr{op: op, text: n.key, id: int32(n.id), skip: int32(len(prog)), col: int32(n.col)})
}

func (p *plan) walk(n *node, fn func(*node)) {
	fn(n)
	for _, c := range n.children {
		p.walk(c, fn)
	}
}

// insert adds the nodes of a resolved path and returns its leaf.
func (p *plan) insert(steps []step, col int) *node {
	n := p.root
	for _, st := range steps {
		c := n.child(st.order)
		if c == nil {
			c = &node{kind: st.s.kind, bits: st.s.bits, order: st.order, parent: n, firstCol: col}
			if st.index {
				c.path = n.path + "[" + strconv.Itoa(st.order) + "]"
			} else {
				c.key = strconv.Quote(st.name) + ":"
				c.path = st.name
				if n.path != "" {
					c.path = n.path + "." + st.name
				}
			}
			i, _ := slices.BinarySearchFunc(n.children, st.order, func(a *node, o int) int { return cmp.Compare(a.order, o) })
			n.children = slices.Insert(n.children, i, c)
		}
		n = c
	}
	n.col = col
	return n
}

// resolve parses a header name as a path into the request and checks it
// against the schema. It returns the steps, or a message saying what is wrong.
func resolve(name string) ([]step, string) {
	s := requestSchema()
	var steps []step
	where := "" // the path so far, for messages
	at := func() string {
		if where == "" {
			return "the request"
		}
		return where
	}
	for seg := range strings.SplitSeq(name, ".") {
		fieldName, rest, _ := strings.Cut(seg, "[")
		if fieldName == "" || strings.ContainsAny(fieldName, "] \t") {
			return nil, "malformed path: want dot-separated field names with [N] indexes, e.g. shipment.parcels[0].weight"
		}
		switch {
		case s.kind == kindArray:
			return nil, fmt.Sprintf("%s is an array: name an element, e.g. %s[0].%s", where, where, fieldName)
		case s.kind == kindRaw:
			return nil, fmt.Sprintf("%s holds raw JSON: put the whole value in one column named %s", where, where)
		case s.kind != kindObject:
			return nil, fmt.Sprintf("%s is %s and has no fields", where, s.kind)
		}
		i := slices.IndexFunc(s.fields, func(f field) bool { return f.name == fieldName })
		if i < 0 {
			msg := fmt.Sprintf("unknown field %q in %s", fieldName, at())
			if j := slices.IndexFunc(s.fields, func(f field) bool { return strings.EqualFold(f.name, fieldName) }); j >= 0 {
				return nil, msg + fmt.Sprintf(" (names are case-sensitive: did you mean %q?)", s.fields[j].name)
			}
			return nil, msg + " (known: " + s.fieldNames() + ")"
		}
		s = s.fields[i].s
		if where != "" {
			where += "."
		}
		where += fieldName
		steps = append(steps, step{order: i, name: fieldName, s: s})
		for rest != "" {
			digits, after, ok := strings.Cut(rest, "]")
			if !ok || (after != "" && after[0] != '[') {
				return nil, "malformed index: want [N] after a field name, e.g. streetLines[0]"
			}
			n, err := strconv.Atoi(digits)
			if err != nil || n < 0 || n > maxIndex || strconv.Itoa(n) != digits {
				return nil, fmt.Sprintf("index [%s] of %s: want a whole number from 0 to %d, without leading zeros", digits, where, maxIndex)
			}
			if s.kind != kindArray {
				return nil, fmt.Sprintf("%s is %s, not an array: remove the [%s]", where, s.kind, digits)
			}
			s = s.elem
			where += "[" + digits + "]"
			steps = append(steps, step{order: n, s: s, index: true})
			rest = strings.TrimPrefix(after, "[")
		}
	}
	switch s.kind {
	case kindObject:
		return nil, fmt.Sprintf("%s is an object: name one of its fields (%s), e.g. %s.%s", where, s.fieldNames(), where, s.fields[0].name)
	case kindArray:
		return nil, fmt.Sprintf("%s is an array: name an element, e.g. %s[0]", where, where)
	case kindUnsupported:
		return nil, fmt.Sprintf("%s cannot be set from CSV", where)
	}
	return steps, ""
}
