package flexapitest

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/flexlabel/flexlabel/flexapi"
)

// Trigger product codes: a request whose service.productCode is one of these
// gets the documented failure instead of a label.
const (
	// RejectProductCode makes the courier reject the label: the first call
	// answers 502 with a persisted label of status "failed"; replays answer
	// 200 with the same failed label.
	RejectProductCode = "REJECT"
	// NoAccountProductCode makes the call answer 404 "Shipping account not
	// found". No label is stored, so the key stays unused.
	NoAccountProductCode = "NOACCOUNT"
)

// Sandbox ship-to postal codes and the tracking tag each one drives; any
// other postal code tracks as InfoReceived.
const (
	PostalDelivered = "90001"
	PostalException = "90002"
	PostalInTransit = "90003"
	PostalCancelled = "90004"
	// PostalNewTag tracks as InfoReceived, then with a tag the API added
	// after flexapi was written ("AvailableForPickup"), which a client
	// reports as Unknown; it stays there.
	PostalNewTag = "90005"
)

const maxBody = 1 << 20

// TB is the part of testing.TB that NewTestServer needs; *testing.T and
// *testing.B satisfy it. It keeps package testing out of the binary.
type TB interface {
	Helper()
	Cleanup(func())
}

// Server is a fake Flex Forward API. Its methods are safe for concurrent use,
// also while requests are being served, so faults can be switched mid-test.
type Server struct {
	admin   bool
	baseURL string // for document URLs; "" derives it from each request

	mu       sync.Mutex
	url      string
	tokens   map[string]*token
	labels   map[string]*stored     // by label id
	byKey    map[acctKey]*stored    // by account and idempotency key
	byOrder  map[acctKey]*stored    // by account and customer order number
	faults   Faults                 // current switches
	failSeen map[acctKey]int        // calls per key since FailFirst was set
	dropSeen map[acctKey]int        // label-stage calls per key since DropAfterCreate was set
	rng      *rand.Rand             // chaos; guarded by mu
	window   struct{ sec, n int64 } // the rate limiter's current second
	// accountWindow counts each account's calls in window's second
	accountWindow map[string]int
	seq           int64 // courier order number sequence
	ledger        Ledger
	seen          Seen
	speedup       float64 // tracking clock: journey offsets are divided by it
}

type token struct {
	account string
	state   tokenState
}

type tokenState int

const (
	tokenActive tokenState = iota
	tokenForbidden
	tokenRevoked
)

type acctKey struct{ account, key string }

// stored is a persisted label and what tracking and documents need of its request.
type stored struct {
	label    flexapi.Label
	account  string
	key      string
	order    string // customer order number
	body     []byte // canonical request, to notice a key reused with another body
	shipTo   flexapi.Address
	shipFrom flexapi.Address
	created  time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithoutAdmin stops serving the /_fake/ admin API (it answers 404 then).
func WithoutAdmin() Option { return func(s *Server) { s.admin = false } }

// WithBaseURL fixes the base of the document URLs that GET /labels/{id}
// returns. By default it is derived from each request's Host.
func WithBaseURL(u string) Option {
	return func(s *Server) { s.baseURL = strings.TrimRight(u, "/") }
}

// WithSeed seeds the random source of the chaos faults (SetChaos), so a
// storm test can be replayed. The default seed is random; Faults reports it.
func WithSeed(seed uint64) Option { return func(s *Server) { s.seedLocked(seed) } }

// WithTrackingSpeedup makes the sandbox journeys of GET /tracking/{id}
// progress f times faster than real time (3600: an hour of the journey in a
// second), like SetTrackingSpeedup. f below 1 counts as 1.
func WithTrackingSpeedup(f float64) Option { return func(s *Server) { s.SetTrackingSpeedup(f) } }

// WithToken registers a bearer token for an account, like AddToken.
func WithToken(tok, account string) Option {
	return func(s *Server) { s.tokens[tok] = &token{account: account} }
}

// New returns a fake API with no tokens, no labels and no faults. Serve it
// with Handler (in-process), NewTestServer (httptest) or Serve (a listener).
func New(opts ...Option) *Server {
	s := &Server{admin: true, tokens: make(map[string]*token), speedup: 1}
	s.resetLocked()
	var b [8]byte
	_, _ = crand.Read(b[:])
	s.seedLocked(binary.LittleEndian.Uint64(b[:]))
	for _, o := range opts {
		o(s)
	}
	return s
}

// NewTestServer starts the fake on a loopback httptest server and closes it
// when the test ends. Each token gets its own account, named "account-1",
// "account-2", … in order (account names appear in the ledger; tokens never do).
func NewTestServer(tb TB, tokens ...string) *Server {
	tb.Helper()
	s := New()
	for i, t := range tokens {
		s.AddToken(t, fmt.Sprintf("account-%d", i+1))
	}
	ts := httptest.NewServer(s)
	s.mu.Lock()
	s.url = ts.URL
	s.mu.Unlock()
	tb.Cleanup(ts.Close)
	return s
}

// Serve serves the fake on ln until ctx is cancelled, then shuts down
// gracefully (waiting up to 5 s for calls in flight) and returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	s.url = "http://" + ln.Addr().String()
	s.mu.Unlock()
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("fake API: serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = hs.Close()
	}
	if srvErr := <-errc; !errors.Is(srvErr, http.ErrServerClosed) {
		return fmt.Errorf("fake API: serving: %w", srvErr)
	}
	if err != nil {
		return fmt.Errorf("fake API: shutting down: %w", err)
	}
	return nil
}

// Handler returns the fake as an http.Handler (the Server itself).
func (s *Server) Handler() http.Handler { return s }

// URL is the base URL once NewTestServer or Serve started the fake, else "".
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// AddToken registers (or re-registers, restoring it) a bearer token for
// account. Idempotency keys and labels are scoped per account.
func (s *Server) AddToken(tok, account string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = &token{account: account}
}

// Forbid makes a known token answer 403 Forbidden (a valid token without access).
func (s *Server) Forbid(token string) { s.setTokenState(token, tokenForbidden) }

// Revoke makes a known token answer 401 Unauthorized, as an unknown one does.
func (s *Server) Revoke(token string) { s.setTokenState(token, tokenRevoked) }

// Restore undoes Forbid and Revoke.
func (s *Server) Restore(token string) { s.setTokenState(token, tokenActive) }

func (s *Server) setTokenState(tok string, st tokenState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[tok]; ok {
		t.state = st
	}
}

// Reset forgets every label, empties the ledger and the seen headers, and
// clears all faults. Tokens and their states are kept.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *Server) resetLocked() {
	s.labels = make(map[string]*stored)
	s.byKey = make(map[acctKey]*stored)
	s.byOrder = make(map[acctKey]*stored)
	seed := s.faults.Seed
	s.faults = Faults{Seed: seed}
	s.failSeen = make(map[acctKey]int)
	s.dropSeen = make(map[acctKey]int)
	s.window.sec, s.window.n = 0, 0
	s.accountWindow = make(map[string]int)
	s.ledger = newLedger()
	s.seen = Seen{UserAgents: make(map[string]int)}
}

// ResetLedger empties the ledger only; labels and faults stay.
func (s *Server) ResetLedger() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ledger = newLedger()
}

// Label returns a stored label by its id.
func (s *Server) Label(id string) (flexapi.Label, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.labels[id]; ok {
		return st.label, true
	}
	return flexapi.Label{}, false
}

// LabelByKey returns the label stored for an account's idempotency key.
func (s *Server) LabelByKey(account, key string) (flexapi.Label, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.byKey[acctKey{account, key}]; ok {
		return st.label, true
	}
	return flexapi.Label{}, false
}

// Seen is what the fake noticed about the request headers of API calls.
// It never holds a token.
type Seen struct {
	LastUserAgent     string         `json:"lastUserAgent"`
	LastAccept        string         `json:"lastAccept"`
	LastContentType   string         `json:"lastContentType"`
	LastAuthorization bool           `json:"lastAuthorization"` // an Authorization header was present
	LastBearer        bool           `json:"lastBearer"`        // … and used the Bearer scheme
	CallsWithoutAuth  int            `json:"callsWithoutAuth"`  // API calls without Authorization
	UserAgents        map[string]int `json:"userAgents"`        // calls per User-Agent
	LastMethod        string         `json:"lastMethod"`
	LastPath          string         `json:"lastPath"`
}

// Seen returns a copy of the headers seen so far.
func (s *Server) Seen() Seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.seen
	c.UserAgents = copyMap(s.seen.UserAgents)
	return c
}

func (s *Server) seedLocked(seed uint64) {
	s.faults.Seed = seed
	s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// newID returns a random (version 4) UUID.
func newID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
