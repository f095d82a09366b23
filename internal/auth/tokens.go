package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
)

// MinTokenLen is the shortest token accepted, in the file as in
// FLEXLABEL_API_TOKENS.
const MinTokenLen = 16

// Public is not a token's scope: it marks a route served to anyone,
// without a token (health, readiness, the OpenAPI document).
const Public Scope = "public"

// fileScopes are the scopes a line of the tokens file may name. All is not
// one of them: it is what FLEXLABEL_API_TOKENS grants.
var fileScopes = []Scope{Producer, Operator, Viewer, Metrics}

// Token is one configured API token.
//
// A Token prints (fmt, slog) as its scope and ID, never its secret.
type Token struct {
	Scope  Scope
	Secret string
	// Prefixes limit a producer token to idempotency keys starting with
	// one of them; empty means any key.
	Prefixes []string
}

// ID names the token in logs: "tok-" and the first 12 hex digits of the
// secret's SHA-256. It is stable across restarts and reloads and reveals
// nothing usable about the secret.
func (t Token) ID() string { return TokenID(t.Secret) }

// TokenID is the ID of the token whose secret is secret.
func TokenID(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "tok-" + hex.EncodeToString(sum[:6])
}

// Principal is the caller presenting t.
func (t Token) Principal() Principal {
	return Principal{ID: t.ID(), Scope: t.Scope, Prefixes: t.Prefixes}
}

// String describes the token without its secret.
func (t Token) String() string { return string(t.Scope) + " token " + t.ID() }

// GoString redacts the secret under %#v.
func (t Token) GoString() string { return t.String() }

// Format prints String under every fmt verb, so %+v cannot reach Secret.
func (t Token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, t.String()) }

// LogValue logs the token's scope and ID, never its secret.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.String("scope", string(t.Scope)), slog.String("token_id", t.ID()))
}

// ParseFile parses the tokens file format: one token a line,
//
//	SCOPE TOKEN [KEY_PREFIX...]
//
// fields separated by spaces or tabs, '#' starting a comment, blank lines
// ignored. SCOPE is producer, operator, viewer or metrics; key prefixes are
// allowed on producer lines only. name is used in errors, which say
// "name:line: problem" for every bad line at once and never contain a token.
func ParseFile(name string, data []byte) ([]Token, error) {
	var (
		tokens   []Token
		problems []string
		seen     = map[string]int{} // secret -> line
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' })
		if len(fields) == 0 {
			continue
		}
		bad := func(format string, args ...any) {
			problems = append(problems, fmt.Sprintf("%s:%d: ", name, n)+fmt.Sprintf(format, args...))
		}
		scope := Scope(fields[0])
		if !validFileScope(scope) {
			bad("%s is not one of producer, operator, viewer, metrics (want SCOPE TOKEN [KEY_PREFIX...])", shownScope(fields[0]))
			continue
		}
		if len(fields) < 2 {
			bad("%s line has no token (want SCOPE TOKEN [KEY_PREFIX...])", scope)
			continue
		}
		t := Token{Scope: scope, Secret: fields[1], Prefixes: fields[2:]}
		if len(t.Prefixes) == 0 {
			t.Prefixes = nil
		}
		switch {
		case len(t.Secret) < MinTokenLen:
			bad("token is shorter than %d characters", MinTokenLen)
			continue
		case len(t.Prefixes) > 0 && scope != Producer:
			bad("key prefixes are allowed on producer lines only, this is a %s line", scope)
			continue
		}
		if first, dup := seen[t.Secret]; dup {
			bad("token %s is already on line %d; each token may appear once", t.ID(), first)
			continue
		}
		seen[t.Secret] = n
		tokens = append(tokens, t)
	}
	if err := sc.Err(); err != nil {
		problems = append(problems, fmt.Sprintf("%s:%d: %v", name, n+1, err))
	}
	if len(problems) > 0 {
		return nil, &FileError{Problems: problems}
	}
	return tokens, nil
}

// FileError lists every problem of a tokens file, each "file:line: problem".
type FileError struct {
	Problems []string
}

func (e *FileError) Error() string { return strings.Join(e.Problems, "; ") }

// ReadFile reads and parses the tokens file at path (ParseFile), returning
// the SHA-256 of its content too, so a watcher can tell a change.
func ReadFile(path string) ([]Token, [sha256.Size]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, [sha256.Size]byte{}, fmt.Errorf("reading the tokens file: %w", err)
	}
	tokens, err := ParseFile(path, data)
	return tokens, sha256.Sum256(data), err
}

func validFileScope(s Scope) bool {
	for _, f := range fileScopes {
		if s == f {
			return true
		}
	}
	return false
}

// shownScope is how an error names a bad first field: a token written
// first by mistake must not be shown, so a field as long as a token is not.
func shownScope(s string) string {
	if len(s) >= MinTokenLen/2 {
		return fmt.Sprintf("the first field (%d characters, not shown: it may be a token)", len(s))
	}
	return fmt.Sprintf("scope %q", s)
}

// Set maps presented secrets to principals. It is safe for concurrent
// use; Replace swaps the whole set at once, so a request sees the old set
// or the new one, never a mix.
type Set struct {
	p atomic.Pointer[map[[sha256.Size]byte]Principal]
}

// NewSet returns a set of tokens; a secret given twice is an error.
func NewSet(tokens []Token) (*Set, error) {
	s := &Set{}
	if err := s.Replace(tokens); err != nil {
		return nil, err
	}
	return s, nil
}

// Replace makes tokens the set's tokens. On error (a secret given twice)
// the set keeps its old tokens.
func (s *Set) Replace(tokens []Token) error {
	m := make(map[[sha256.Size]byte]Principal, len(tokens))
	for _, t := range tokens {
		if t.Secret == "" {
			return fmt.Errorf("a %s token is empty", t.Scope)
		}
		sum := sha256.Sum256([]byte(t.Secret))
		if _, dup := m[sum]; dup {
			return fmt.Errorf("token %s is configured twice", t.ID())
		}
		m[sum] = t.Principal()
	}
	s.p.Store(&m)
	return nil
}

// Lookup returns the principal of a presented secret. The secret is
// looked up by its SHA-256, so the timing tells nothing about how much of
// a real token it matches.
func (s *Set) Lookup(secret string) (Principal, bool) {
	m := s.p.Load()
	if m == nil || secret == "" {
		return Principal{}, false
	}
	p, ok := (*m)[sha256.Sum256([]byte(secret))]
	return p, ok
}

// Len is the number of tokens in the set.
func (s *Set) Len() int {
	m := s.p.Load()
	if m == nil {
		return 0
	}
	return len(*m)
}
