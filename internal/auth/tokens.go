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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flexlabel/flexlabel/internal/store"
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
	// Accounts limit the token to these Flex Forward accounts; empty
	// means every account.
	Accounts []string
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
	return Principal{ID: t.ID(), Scope: t.Scope, Prefixes: t.Prefixes, Accounts: t.Accounts}
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
//	SCOPE TOKEN [KEY_PREFIX...] [accounts=NAME,...]
//
// fields separated by spaces or tabs, '#' starting a comment, blank lines
// ignored. SCOPE is producer, operator, viewer or metrics; key prefixes are
// allowed on producer lines only. A field starting "accounts=" (anywhere
// after the token) binds the token to those Flex Forward accounts, each
// [a-z0-9-]{1,32}; it is allowed on every line but metrics (the metrics
// are the whole fleet's). name is used in errors, which say
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
		t := Token{Scope: scope, Secret: fields[1]}
		var accts []string // the accounts= fields
		for _, f := range fields[2:] {
			if list, ok := strings.CutPrefix(f, accountsField); ok {
				accts = append(accts, list)
			} else {
				t.Prefixes = append(t.Prefixes, f)
			}
		}
		switch {
		case len(t.Secret) < MinTokenLen:
			bad("token is shorter than %d characters", MinTokenLen)
			continue
		case len(t.Prefixes) > 0 && scope != Producer:
			bad("key prefixes are allowed on producer lines only, this is a %s line", scope)
			continue
		case len(accts) > 0 && scope == Metrics:
			bad("accounts: not allowed on metrics lines (the metrics are the whole fleet's)")
			continue
		case len(accts) > 1:
			bad("accounts: given %d times; list every account in one field, accounts=brand-a,brand-b", len(accts))
			continue
		case len(accts) == 1:
			var msg string
			if t.Accounts, msg = parseAccounts(accts[0]); msg != "" {
				bad("accounts: %s", msg)
				continue
			}
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

// accountsField starts the field of a tokens file line that binds the
// token to accounts.
const accountsField = "accounts="

// parseAccounts reads the list of an accounts= field: the accounts, or
// what is wrong with the list.
func parseAccounts(list string) ([]string, string) {
	if list == "" {
		return nil, "empty; name at least one account (accounts=brand-a,brand-b), or leave the field out for every account"
	}
	var accts []string
	for a := range strings.SplitSeq(list, ",") {
		switch {
		case !validAccountName(a):
			return nil, fmt.Sprintf("%s is not an account name (1 to 32 of a-z, 0-9 and -, separated by commas)", shownAccount(a))
		case slices.Contains(accts, a):
			return nil, fmt.Sprintf("%q is listed twice", a)
		}
		accts = append(accts, a)
	}
	return accts, ""
}

// shownAccount is how an error names a bad account name: quoted, unless it
// is as long as a token (a token pasted in the wrong place must not be shown).
func shownAccount(a string) string {
	if len(a) >= MinTokenLen {
		return fmt.Sprintf("a name of %d characters (not shown: it may be a token)", len(a))
	}
	return strconv.Quote(a)
}

// validAccountName reports whether a can name an account: the store's
// rule (1 to 32 of a-z, 0-9 and "-"; the name appears in Redis keys and a
// header), the one place it is written.
var validAccountName = store.ValidAccountName

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
// or the new one, never a mix. It also remembers, per token id and across
// replacements, when this process last saw each token (Tokens), which is
// what an operator watches while rotating one.
type Set struct {
	p    atomic.Pointer[setState]
	used sync.Map // token id -> *atomic.Int64, Unix nanoseconds of the last Lookup
	now  func() time.Time
}

type setState struct {
	m        map[[sha256.Size]byte]Principal
	tokens   []Token // as given, secrets included: never handed out
	loadedAt time.Time
}

// NewSet returns a set of tokens; a secret given twice is an error.
func NewSet(tokens []Token) (*Set, error) {
	s := &Set{now: time.Now}
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
	s.p.Store(&setState{m: m, tokens: slices.Clone(tokens), loadedAt: s.clock()})
	return nil
}

func (s *Set) clock() time.Time {
	if s.now == nil {
		return time.Now()
	}
	return s.now()
}

// Lookup returns the principal of a presented secret, and notes the
// token as used now. The secret is looked up by its SHA-256, so the
// timing tells nothing about how much of a real token it matches.
func (s *Set) Lookup(secret string) (Principal, bool) {
	st := s.p.Load()
	if st == nil || secret == "" {
		return Principal{}, false
	}
	p, ok := st.m[sha256.Sum256([]byte(secret))]
	if ok {
		v, _ := s.used.LoadOrStore(p.ID, new(atomic.Int64))
		v.(*atomic.Int64).Store(s.clock().UnixNano())
	}
	return p, ok
}

// TokenInfo describes a configured token without its secret: what the
// console's tokens page lists.
type TokenInfo struct {
	ID       string
	Scope    Scope
	Prefixes []string
	Accounts []string
	// LastUsed is when this process last accepted the token; zero if it
	// has not since it started.
	LastUsed time.Time
}

// Tokens lists the set's tokens (by scope, then id) with when each was
// last used, and when the set was last loaded.
func (s *Set) Tokens() (tokens []TokenInfo, loadedAt time.Time) {
	st := s.p.Load()
	if st == nil {
		return nil, time.Time{}
	}
	for _, t := range st.tokens {
		ti := TokenInfo{ID: t.ID(), Scope: t.Scope, Prefixes: slices.Clone(t.Prefixes), Accounts: slices.Clone(t.Accounts)}
		if v, ok := s.used.Load(ti.ID); ok {
			ti.LastUsed = time.Unix(0, v.(*atomic.Int64).Load())
		}
		tokens = append(tokens, ti)
	}
	slices.SortFunc(tokens, func(a, b TokenInfo) int {
		if c := strings.Compare(string(a.Scope), string(b.Scope)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return tokens, st.loadedAt
}

// Len is the number of tokens in the set.
func (s *Set) Len() int {
	st := s.p.Load()
	if st == nil {
		return 0
	}
	return len(st.m)
}
