package opsui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/flexlabel/flexlabel/queue"
)

// filter is the dead-letter selection of the list page, its actions and its
// export: the query parameters q (a key or key prefix), reason, queue
// (interactive or bulk), since and until (failure time, UTC).
type filter struct {
	Q            string
	Reason       queue.Reason
	Lane         string // "", "interactive" or "bulk"
	Since, Until string // as typed, for the form
	since, until time.Time
}

// timeLayouts are the times since and until accept: a browser's
// datetime-local input, and RFC 3339.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s: want a time like 2026-01-31T14:00 (UTC) or RFC 3339, got %q", name, s)
}

// parseFilter reads a filter from a query or form, naming the parameter
// that is wrong.
func parseFilter(v url.Values) (filter, error) {
	f := filter{Q: strings.TrimSpace(v.Get("q")), Lane: v.Get("queue"), Since: v.Get("since"), Until: v.Get("until")}
	var errs []error
	reason, err := queue.ParseReason(v.Get("reason"))
	if err != nil {
		errs = append(errs, fmt.Errorf("reason: unknown reason %q (want one of %v)", v.Get("reason"), queue.Reasons))
	}
	f.Reason = reason
	if f.Lane != "" && f.Lane != queue.Interactive.String() && f.Lane != queue.Bulk.String() {
		errs = append(errs, fmt.Errorf("queue: want %s or %s, got %q", queue.Interactive, queue.Bulk, f.Lane))
	}
	if f.since, err = parseTime("since", f.Since); err != nil {
		errs = append(errs, err)
	}
	if f.until, err = parseTime("until", f.Until); err != nil {
		errs = append(errs, err)
	}
	return f, errors.Join(errs...)
}

// options is the filter as the queue takes it.
func (f filter) options(q *queue.Queue) queue.ListOptions {
	o := queue.ListOptions{Reason: f.Reason, KeyPrefix: f.Q, Since: f.since, Until: f.until}
	switch f.Lane {
	case queue.Interactive.String():
		o.Queue = q.Name(queue.Interactive)
	case queue.Bulk.String():
		o.Queue = q.Name(queue.Bulk)
	}
	return o
}

// Empty reports whether the filter selects every dead letter.
func (f filter) Empty() bool { return f.Query().Encode() == "" }

// Query is the filter as query parameters, for links and hidden fields.
func (f filter) Query() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"q": f.Q, "reason": string(f.Reason), "queue": f.Lane, "since": f.Since, "until": f.Until} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// URL is path with the filter's query (and extra parameters).
func (f filter) URL(path string, extra ...string) string {
	v := f.Query()
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// String says in words what the filter selects.
func (f filter) String() string {
	var parts []string
	if f.Q != "" {
		parts = append(parts, "key starting with "+strconv.Quote(f.Q))
	}
	if f.Reason != "" {
		parts = append(parts, "reason "+string(f.Reason))
	}
	if f.Lane != "" {
		parts = append(parts, "queue "+f.Lane)
	}
	if f.Since != "" {
		parts = append(parts, "failed since "+f.since.Format(time.RFC3339))
	}
	if f.Until != "" {
		parts = append(parts, "failed before "+f.until.Format(time.RFC3339))
	}
	if len(parts) == 0 {
		return "every dead letter"
	}
	return "dead letters with " + strings.Join(parts, ", ")
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}
