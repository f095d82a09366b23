package flexapitest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// RetryAfterFormat is how a 429 says when to come back.
type RetryAfterFormat string

// Retry-After formats of a 429. Every 429 also carries X-RateLimit-Reset
// (a Unix time in seconds).
const (
	RetryAfterSeconds  RetryAfterFormat = "seconds"   // Retry-After: 2 (the default)
	RetryAfterHTTPDate RetryAfterFormat = "http-date" // Retry-After: Wed, 27 May 2026 10:00:02 GMT
	RetryAfterNone     RetryAfterFormat = "none"      // no Retry-After, X-RateLimit-Reset only
)

// Faults are the fault-injection switches. The zero value injects nothing.
// POST /_fake/faults takes the same JSON; fields left out stay as they are.
type Faults struct {
	// Latency delays every API call before it is handled. A caller that
	// gives up during the delay abandons the call: nothing is created.
	Latency time.Duration `json:"latency"`
	// FailFirst answers 500 to the first FailFirst POST /labels calls of
	// each key (counted from when it was set), before anything is created.
	FailFirst int `json:"failFirst"`
	// DropAfterCreate: the first DropAfterCreate POST /labels calls of each
	// key (counted from when it was set) that reach the label (create it,
	// or find it on a replay) then close the connection without answering.
	DropAfterCreate int `json:"dropAfterCreate"`
	// RateLimit answers 429 to API calls beyond this many per wall-clock
	// second, counted over all accounts; 0 turns it off. Calls refused with
	// 429 do not use up the budget.
	RateLimit int `json:"rateLimit"`
	// RateLimitRetryAfter is the Retry-After of RateLimit's and
	// AccountRateLimit's 429s; 0 means "until the next second".
	RateLimitRetryAfter time.Duration `json:"rateLimitRetryAfter"`
	// AccountRateLimit answers 429 to an account's API calls beyond this
	// many per wall-clock second, each account counted on its own (the
	// API's budget guideline is per account); 0 turns it off. Calls with an
	// unknown token are not counted.
	AccountRateLimit int `json:"accountRateLimit"`
	// Force429 answers 429 to the next Force429 API calls, whatever the rate.
	Force429 int `json:"force429"`
	// Force429RetryAfter is the Retry-After of forced 429s; 0 sends none.
	Force429RetryAfter time.Duration `json:"force429RetryAfter"`
	// RetryAfterFormat formats Retry-After; "" means RetryAfterSeconds.
	RetryAfterFormat RetryAfterFormat `json:"retryAfterFormat"`
	// Chaos500 is the probability that a POST /labels call answers 500
	// before anything is created.
	Chaos500 float64 `json:"chaos500"`
	// ChaosDrop is the probability that a POST /labels call that reaches
	// the label (creates or replays it) then drops the connection.
	ChaosDrop float64 `json:"chaosDrop"`
	// Seed seeds the chaos random source (set it with SetSeed or WithSeed).
	Seed uint64 `json:"seed"`
}

// faultsJSON is the wire form of Faults: durations as Go duration strings
// ("250ms", "2s"), and pointers so that a patch leaves absent fields alone.
type faultsJSON struct {
	Latency             *string           `json:"latency,omitempty"`
	FailFirst           *int              `json:"failFirst,omitempty"`
	DropAfterCreate     *int              `json:"dropAfterCreate,omitempty"`
	RateLimit           *int              `json:"rateLimit,omitempty"`
	RateLimitRetryAfter *string           `json:"rateLimitRetryAfter,omitempty"`
	AccountRateLimit    *int              `json:"accountRateLimit,omitempty"`
	Force429            *int              `json:"force429,omitempty"`
	Force429RetryAfter  *string           `json:"force429RetryAfter,omitempty"`
	RetryAfterFormat    *RetryAfterFormat `json:"retryAfterFormat,omitempty"`
	Chaos500            *float64          `json:"chaos500,omitempty"`
	ChaosDrop           *float64          `json:"chaosDrop,omitempty"`
	Seed                *uint64           `json:"seed,omitempty"`
}

// MarshalJSON writes durations as Go duration strings.
func (f Faults) MarshalJSON() ([]byte, error) {
	d := func(v time.Duration) *string { s := v.String(); return &s }
	return json.Marshal(faultsJSON{
		Latency: d(f.Latency), FailFirst: &f.FailFirst, DropAfterCreate: &f.DropAfterCreate,
		RateLimit: &f.RateLimit, RateLimitRetryAfter: d(f.RateLimitRetryAfter), AccountRateLimit: &f.AccountRateLimit,
		Force429: &f.Force429, Force429RetryAfter: d(f.Force429RetryAfter),
		RetryAfterFormat: &f.RetryAfterFormat, Chaos500: &f.Chaos500, ChaosDrop: &f.ChaosDrop, Seed: &f.Seed,
	})
}

// UnmarshalJSON applies the fields present in data to f, leaving the others,
// and validates the result.
func (f *Faults) UnmarshalJSON(data []byte) error {
	var p faultsJSON
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	dur := func(name string, s *string, dst *time.Duration) error {
		if s == nil {
			return nil
		}
		v, err := time.ParseDuration(*s)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		*dst = v
		return nil
	}
	n := *f
	if err := dur("latency", p.Latency, &n.Latency); err != nil {
		return err
	}
	if err := dur("rateLimitRetryAfter", p.RateLimitRetryAfter, &n.RateLimitRetryAfter); err != nil {
		return err
	}
	if err := dur("force429RetryAfter", p.Force429RetryAfter, &n.Force429RetryAfter); err != nil {
		return err
	}
	setInt := func(src *int, dst *int) {
		if src != nil {
			*dst = *src
		}
	}
	setInt(p.FailFirst, &n.FailFirst)
	setInt(p.DropAfterCreate, &n.DropAfterCreate)
	setInt(p.RateLimit, &n.RateLimit)
	setInt(p.AccountRateLimit, &n.AccountRateLimit)
	setInt(p.Force429, &n.Force429)
	if p.RetryAfterFormat != nil {
		n.RetryAfterFormat = *p.RetryAfterFormat
	}
	if p.Chaos500 != nil {
		n.Chaos500 = *p.Chaos500
	}
	if p.ChaosDrop != nil {
		n.ChaosDrop = *p.ChaosDrop
	}
	if p.Seed != nil {
		n.Seed = *p.Seed
	}
	if err := n.validate(); err != nil {
		return err
	}
	*f = n
	return nil
}

func (f Faults) validate() error {
	switch {
	case f.Latency < 0 || f.RateLimitRetryAfter < 0 || f.Force429RetryAfter < 0:
		return fmt.Errorf("durations must not be negative")
	case f.FailFirst < 0 || f.DropAfterCreate < 0 || f.RateLimit < 0 || f.Force429 < 0:
		return fmt.Errorf("counts must not be negative")
	case !(f.Chaos500 >= 0 && f.Chaos500 <= 1) || !(f.ChaosDrop >= 0 && f.ChaosDrop <= 1):
		return fmt.Errorf("chaos probabilities must be between 0 and 1")
	}
	switch f.RetryAfterFormat {
	case "", RetryAfterSeconds, RetryAfterHTTPDate, RetryAfterNone:
		return nil
	}
	return fmt.Errorf("retryAfterFormat %q: want %q, %q or %q", f.RetryAfterFormat, RetryAfterSeconds, RetryAfterHTTPDate, RetryAfterNone)
}

// Faults returns the current fault switches (Force429 counts down as used).
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetFaults replaces every switch at once; it refuses invalid values.
// The per-key counts of FailFirst and DropAfterCreate restart, and the chaos
// source is reseeded with f.Seed.
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("flexapitest: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setFaultsLocked(f, true, true)
	s.seedLocked(f.Seed)
	return nil
}

// setFaultsLocked installs f; restartFail and restartDrop restart the
// per-key counts of FailFirst and DropAfterCreate ("from now on").
func (s *Server) setFaultsLocked(f Faults, restartFail, restartDrop bool) {
	if restartFail {
		clear(s.failSeen)
	}
	if restartDrop {
		clear(s.dropSeen)
	}
	s.faults = f
}

// ClearFaults turns every fault off (the seed is kept).
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setFaultsLocked(Faults{Seed: s.faults.Seed}, true, true)
}

// SetLatency delays every API call by d (0 turns it off).
func (s *Server) SetLatency(d time.Duration) {
	s.update(false, false, func(f *Faults) { f.Latency = max(d, 0) })
}

// FailFirst answers 500 to the first n POST /labels calls of each key from
// now on, before anything is created (0 turns it off).
func (s *Server) FailFirst(n int) {
	s.update(true, false, func(f *Faults) { f.FailFirst = max(n, 0) })
}

// DropAfterCreate makes the first n POST /labels calls of each key from now
// on that reach the label (create it, or find it on a replay) close the
// connection without an answer: the label exists, the caller cannot know.
func (s *Server) DropAfterCreate(n int) {
	s.update(false, true, func(f *Faults) { f.DropAfterCreate = max(n, 0) })
}

// SetRateLimit answers 429 to API calls beyond rps per second over all
// accounts, with Retry-After retryAfter (0: until the next second).
// rps 0 turns it off.
func (s *Server) SetRateLimit(rps int, retryAfter time.Duration) {
	s.update(false, false, func(f *Faults) { f.RateLimit, f.RateLimitRetryAfter = max(rps, 0), max(retryAfter, 0) })
}

// SetAccountRateLimit answers 429 to each account's calls beyond rps per
// wall-clock second, every account on its own (0 turns it off).
func (s *Server) SetAccountRateLimit(rps int) {
	s.update(false, false, func(f *Faults) { f.AccountRateLimit = max(rps, 0) })
}

// Force429 answers 429 to the next n API calls, with Retry-After retryAfter
// (0: no Retry-After header).
func (s *Server) Force429(n int, retryAfter time.Duration) {
	s.update(false, false, func(f *Faults) { f.Force429, f.Force429RetryAfter = max(n, 0), max(retryAfter, 0) })
}

// SetRetryAfterFormat chooses how 429s carry Retry-After. An unknown format
// is treated as RetryAfterSeconds.
func (s *Server) SetRetryAfterFormat(format RetryAfterFormat) {
	switch format {
	case RetryAfterSeconds, RetryAfterHTTPDate, RetryAfterNone:
	default:
		format = RetryAfterSeconds
	}
	s.update(false, false, func(f *Faults) { f.RetryAfterFormat = format })
}

// SetChaos sets the probabilities, per POST /labels call, of a 500 before
// anything is created (p500) and of creating the label and then dropping the
// connection (pDrop). Values are clamped to [0, 1].
func (s *Server) SetChaos(p500, pDrop float64) {
	clamp := func(p float64) float64 {
		if math.IsNaN(p) {
			return 0
		}
		return min(max(p, 0), 1)
	}
	s.update(false, false, func(f *Faults) { f.Chaos500, f.ChaosDrop = clamp(p500), clamp(pDrop) })
}

// SetSeed reseeds the chaos random source.
func (s *Server) SetSeed(seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seedLocked(seed)
}

func (s *Server) update(restartFail, restartDrop bool, fn func(*Faults)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	fn(&f)
	s.setFaultsLocked(f, restartFail, restartDrop)
}

// throttle answers 429 when a forced 429 is pending or the call is over the
// rate limit, and reports whether it did. It also sets the X-RateLimit-*
// headers while a rate limit is on.
func (s *Server) throttle(w http.ResponseWriter, now time.Time, account string) bool {
	s.mu.Lock()
	f := &s.faults
	sec := now.Unix()
	if s.window.sec != sec {
		s.window.sec, s.window.n = sec, 0
		clear(s.accountWindow)
	}
	var (
		limited    bool
		retryAfter time.Duration
		hint       bool
	)
	switch {
	case f.Force429 > 0:
		f.Force429--
		limited, retryAfter, hint = true, f.Force429RetryAfter, f.Force429RetryAfter > 0
	case f.RateLimit > 0 && s.window.n >= int64(f.RateLimit),
		f.AccountRateLimit > 0 && account != "" && s.accountWindow[account] >= f.AccountRateLimit:
		limited, retryAfter, hint = true, f.RateLimitRetryAfter, true
		if retryAfter <= 0 {
			retryAfter = time.Unix(sec+1, 0).Sub(now)
		}
		if account != "" {
			a := s.ledger.account(account)
			a.RateLimited++
			s.ledger.Accounts[account] = a
		}
	default:
		s.window.n++
		if account != "" {
			s.accountWindow[account]++
		}
	}
	if f.RateLimit > 0 {
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(f.RateLimit))
		h.Set("X-RateLimit-Remaining", strconv.FormatInt(max(int64(f.RateLimit)-s.window.n, 0), 10))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(sec+1, 10))
	}
	format := f.RetryAfterFormat
	if limited {
		s.ledger.RateLimited++
	}
	s.mu.Unlock()
	if !limited {
		return false
	}
	if hint {
		secs := int64(math.Ceil(retryAfter.Seconds()))
		at := now.Add(time.Duration(secs) * time.Second)
		switch format {
		case RetryAfterHTTPDate:
			w.Header().Set("Retry-After", at.UTC().Format(http.TimeFormat))
		case RetryAfterNone:
		default:
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(at.Unix(), 10))
	}
	writeError(w, http.StatusTooManyRequests, "Too many requests")
	return true
}

// fault is what the fault switches decide for one POST /labels call.
type fault int

const (
	faultNone fault = iota
	fault500
	faultDrop
)

// beforeLabel decides, under s.mu, whether a call of key k fails with 500
// before the label stage.
func (s *Server) beforeLabelLocked(k acctKey) fault {
	if s.faults.FailFirst > 0 {
		s.failSeen[k]++
		if s.failSeen[k] <= s.faults.FailFirst {
			return fault500
		}
	}
	if s.faults.Chaos500 > 0 && s.rng.Float64() < s.faults.Chaos500 {
		return fault500
	}
	return faultNone
}

// afterLabel decides, under s.mu, whether a call of key k that reached the
// label drops the connection instead of answering.
func (s *Server) afterLabelLocked(k acctKey) fault {
	if s.faults.DropAfterCreate > 0 {
		s.dropSeen[k]++
		if s.dropSeen[k] <= s.faults.DropAfterCreate {
			return faultDrop
		}
	}
	if s.faults.ChaosDrop > 0 && s.rng.Float64() < s.faults.ChaosDrop {
		return faultDrop
	}
	return faultNone
}
