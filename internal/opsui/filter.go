package opsui

import (
	"encoding/json"
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

// filterParams are the console's names of the filter's parameters.
var filterParams = queue.FilterParams{KeyPrefix: "q", Reason: "reason", Queue: "queue", Since: "since", Until: "until"}

// parseFilter reads a filter from a query or form, naming the parameter
// that is wrong (queue.ParseFilter, the API's and the CLI's parsing too).
func parseFilter(v url.Values) (filter, error) {
	qf, err := queue.ParseFilter(filterParams, func(name string) string {
		if name == filterParams.KeyPrefix {
			return strings.TrimSpace(v.Get(name))
		}
		return v.Get(name)
	})
	f := filter{Q: qf.KeyPrefix, Reason: qf.Reason, Lane: qf.Lane, Since: v.Get("since"), Until: v.Get("until"), since: qf.Since, until: qf.Until}
	return f, err
}

// options is the filter as the queue takes it.
func (f filter) options(q *queue.Queue) queue.ListOptions {
	return q.DeadLetters().Options(queue.Filter{KeyPrefix: f.Q, Reason: f.Reason, Lane: f.Lane, Since: f.since, Until: f.until})
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
