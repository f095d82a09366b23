package flexapitest

import (
	"maps"
	"slices"

	"github.com/flexlabel/flexlabel/flexapi"
)

// Ledger is a snapshot of everything the fake counted since it started or
// was last reset. "API calls" are calls to the documented endpoints (known
// paths or not, whatever the outcome, 429s and 401s included); calls to the
// admin API and document downloads (a courier CDN in reality) are not API calls.
//
// The per-key and per-order maps at the top level are keyed by the bare
// idempotency key or customer order number and sum over accounts; Accounts
// has the same maps per account. A key is attributed to an account when the
// call's token is registered, whatever its state.
type Ledger struct {
	TotalCalls    int `json:"totalCalls"`    // API calls
	CreateCalls   int `json:"createCalls"`   // POST /labels calls
	DocumentCalls int `json:"documentCalls"` // GET /documents/… (not API calls)
	// TrackingCalls counts GET /tracking/{id} calls answered for a label of
	// the caller's account; TrackingCallsPerLabel counts them by label id.
	TrackingCalls         int            `json:"trackingCalls"`
	TrackingCallsPerLabel map[string]int `json:"trackingCallsPerLabel"`

	// CallsPerSecond counts API calls per Unix second of their arrival;
	// CreateCallsPerSecond counts POST /labels calls only.
	CallsPerSecond       map[int64]int `json:"callsPerSecond"`
	CreateCallsPerSecond map[int64]int `json:"createCallsPerSecond"`

	// CallsPerKey counts every POST /labels call whose body carries the key,
	// whatever its outcome (429, 400, 500, dropped, …).
	CallsPerKey map[string]int `json:"callsPerKey"`
	// CreatedPerKey counts labels created with status "created" (each a 201).
	// Within one account it is never above 1: the fake creates at most one
	// label per key. Compare it with CallsPerKey, and LabelsPerOrder, to
	// find a client that made a second label for one order.
	CreatedPerKey map[string]int `json:"createdPerKey"`
	// FailedPerKey counts labels persisted as failed (courier rejections).
	FailedPerKey map[string]int `json:"failedPerKey"`
	// ReplaysPerKey counts calls answered with a stored label (200) or that
	// found it and then dropped the connection.
	ReplaysPerKey map[string]int `json:"replaysPerKey"`
	// BodyMismatchesPerKey counts replays whose body differed from the
	// original's. The API's behaviour is undocumented; the fake answers with
	// the original label, as the API probably does, and counts it here.
	BodyMismatchesPerKey map[string]int `json:"bodyMismatchesPerKey"`
	// LabelsPerOrder counts labels persisted (created or failed) per
	// order.customerOrderNumber; more than one means an order got two labels.
	LabelsPerOrder map[string]int `json:"labelsPerOrder"`

	// StatusCounts counts API answers by HTTP status.
	StatusCounts map[int]int `json:"statusCounts"`

	LabelsCreated int `json:"labelsCreated"` // labels of status "created"
	LabelsFailed  int `json:"labelsFailed"`  // labels of status "failed"
	Replays       int `json:"replays"`       // calls that found their key's label
	Dropped       int `json:"dropped"`       // connections closed without an answer
	Abandoned     int `json:"abandoned"`     // callers that gave up during Latency
	RateLimited   int `json:"rateLimited"`   // 429s

	Accounts map[string]AccountLedger `json:"accounts"`
}

// AccountLedger is the part of a Ledger that belongs to one account.
type AccountLedger struct {
	Calls          int            `json:"calls"`
	CreateCalls    int            `json:"createCalls"`
	CallsPerKey    map[string]int `json:"callsPerKey"`
	CreatedPerKey  map[string]int `json:"createdPerKey"`
	FailedPerKey   map[string]int `json:"failedPerKey"`
	ReplaysPerKey  map[string]int `json:"replaysPerKey"`
	LabelsPerOrder map[string]int `json:"labelsPerOrder"`
	// RateLimited counts the account's calls answered 429.
	RateLimited int `json:"rateLimited"`
	// TrackingCalls counts GET /tracking/{id} calls answered for a label
	// of the account, made with its token.
	TrackingCalls int `json:"trackingCalls"`
	// CallsPerSecond counts the account's API calls per Unix second of
	// their arrival (429s included; RateLimited counts those);
	// CreateCallsPerSecond its POST /labels calls only.
	CallsPerSecond       map[int64]int `json:"callsPerSecond"`
	CreateCallsPerSecond map[int64]int `json:"createCallsPerSecond"`
}

// MaxCallsInAnySecond is the most API calls that arrived within one second.
func (l Ledger) MaxCallsInAnySecond() int { return maxValue(l.CallsPerSecond) }

// MaxCreateCallsInAnySecond is the most POST /labels calls within one second.
func (l Ledger) MaxCreateCallsInAnySecond() int { return maxValue(l.CreateCallsPerSecond) }

// DuplicateOrders lists, sorted, the customer order numbers that got more
// than one label within one account.
func (l Ledger) DuplicateOrders() []string {
	var out []string
	for _, a := range l.Accounts {
		for order, n := range a.LabelsPerOrder {
			if n > 1 && !slices.Contains(out, order) {
				out = append(out, order)
			}
		}
	}
	slices.Sort(out)
	return out
}

func maxValue[K comparable](m map[K]int) int {
	n := 0
	for _, v := range m {
		n = max(n, v)
	}
	return n
}

func newLedger() Ledger {
	return Ledger{
		CallsPerSecond:        make(map[int64]int),
		CreateCallsPerSecond:  make(map[int64]int),
		CallsPerKey:           make(map[string]int),
		CreatedPerKey:         make(map[string]int),
		FailedPerKey:          make(map[string]int),
		ReplaysPerKey:         make(map[string]int),
		BodyMismatchesPerKey:  make(map[string]int),
		LabelsPerOrder:        make(map[string]int),
		StatusCounts:          make(map[int]int),
		TrackingCallsPerLabel: make(map[string]int),
		Accounts:              make(map[string]AccountLedger),
	}
}

// account returns the account's ledger, creating it; its maps are shared
// with the stored value, so counting into them needs no write-back.
func (l *Ledger) account(name string) AccountLedger {
	a, ok := l.Accounts[name]
	if !ok {
		a = AccountLedger{
			CallsPerKey:    make(map[string]int),
			CreatedPerKey:  make(map[string]int),
			FailedPerKey:   make(map[string]int),
			ReplaysPerKey:  make(map[string]int),
			LabelsPerOrder: make(map[string]int),
			CallsPerSecond: make(map[int64]int), CreateCallsPerSecond: make(map[int64]int),
		}
		l.Accounts[name] = a
	}
	return a
}

// Ledger returns a snapshot of the counts; later calls do not change it.
func (s *Server) Ledger() Ledger {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.ledger
	l.CallsPerSecond = copyMap(l.CallsPerSecond)
	l.CreateCallsPerSecond = copyMap(l.CreateCallsPerSecond)
	l.CallsPerKey = copyMap(l.CallsPerKey)
	l.CreatedPerKey = copyMap(l.CreatedPerKey)
	l.FailedPerKey = copyMap(l.FailedPerKey)
	l.ReplaysPerKey = copyMap(l.ReplaysPerKey)
	l.BodyMismatchesPerKey = copyMap(l.BodyMismatchesPerKey)
	l.LabelsPerOrder = copyMap(l.LabelsPerOrder)
	l.StatusCounts = copyMap(l.StatusCounts)
	l.TrackingCallsPerLabel = copyMap(l.TrackingCallsPerLabel)
	l.Accounts = make(map[string]AccountLedger, len(s.ledger.Accounts))
	for name, a := range s.ledger.Accounts {
		a.CallsPerKey = copyMap(a.CallsPerKey)
		a.CreatedPerKey = copyMap(a.CreatedPerKey)
		a.FailedPerKey = copyMap(a.FailedPerKey)
		a.ReplaysPerKey = copyMap(a.ReplaysPerKey)
		a.LabelsPerOrder = copyMap(a.LabelsPerOrder)
		a.CallsPerSecond = copyMap(a.CallsPerSecond)
		a.CreateCallsPerSecond = copyMap(a.CreateCallsPerSecond)
		l.Accounts[name] = a
	}
	return l
}

func copyMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return nil
	}
	return maps.Clone(m)
}

// countCallLocked records the arrival of an API call. account is "" when
// the token is unknown or missing; key is "" unless it is POST /labels with
// a readable idempotencyKey.
func (s *Server) countCallLocked(sec int64, account string, create bool, key string) {
	l := &s.ledger
	l.TotalCalls++
	l.CallsPerSecond[sec]++
	if account != "" {
		a := l.account(account)
		a.Calls++
		a.CallsPerSecond[sec]++
		if create {
			a.CreateCalls++
			a.CreateCallsPerSecond[sec]++
		}
		l.Accounts[account] = a
	}
	if !create {
		return
	}
	l.CreateCalls++
	l.CreateCallsPerSecond[sec]++
	if key == "" {
		return
	}
	l.CallsPerKey[key]++
	if account != "" {
		l.account(account).CallsPerKey[key]++
	}
}

// countLabelLocked records a newly persisted label.
func (s *Server) countLabelLocked(st *stored) {
	l := &s.ledger
	a := l.account(st.account)
	if st.label.Status == flexapi.StatusFailed {
		l.LabelsFailed++
		l.FailedPerKey[st.key]++
		a.FailedPerKey[st.key]++
	} else {
		l.LabelsCreated++
		l.CreatedPerKey[st.key]++
		a.CreatedPerKey[st.key]++
	}
	if st.order != "" {
		l.LabelsPerOrder[st.order]++
		a.LabelsPerOrder[st.order]++
	}
}

// countReplayLocked records a call that found its key's label.
func (s *Server) countReplayLocked(st *stored, mismatch bool) {
	l := &s.ledger
	l.Replays++
	l.ReplaysPerKey[st.key]++
	l.account(st.account).ReplaysPerKey[st.key]++
	if mismatch {
		l.BodyMismatchesPerKey[st.key]++
	}
}
