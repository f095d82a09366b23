package flexapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Named hosts of the Flex Forward API.
const (
	ProductionURL = "https://api.flexforwardship.com"
	StagingURL    = "https://api-staging.flexforwardship.com"
)

// Version is reported in the User-Agent; cmd sets it at link time.
var Version = "dev"

const (
	maxErrorBody   = 1 << 20  // error bodies are read up to 1 MiB
	maxSuccessBody = 16 << 20 // a batch of label documents can be larger
	defaultTimeout = 30 * time.Second
)

// BaseURLFor returns the preset base URL of a named environment
// ("production" or "staging").
func BaseURLFor(env string) (string, error) {
	switch env {
	case "", "production":
		return ProductionURL, nil
	case "staging":
		return StagingURL, nil
	}
	return "", fmt.Errorf("unknown Flex Forward environment %q (want production or staging)", env)
}

// Client calls the Flex Forward API. Every method makes exactly one HTTP
// attempt: retries belong to the queue, so each attempt is counted and seen.
// A Client is safe for concurrent use.
type Client struct {
	base      *url.URL
	baseStr   string // base.String(), without a trailing slash
	auth      string // the Authorization header: "Bearer <token>"
	http      *http.Client
	userAgent string
	timeout   time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (transport, proxies). Its own Timeout is
// left as it is; the per-call timeout is WithTimeout.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithUserAgent replaces the default User-Agent "flexlabel/<version>".
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithTimeout bounds each call (default 30s); 0 means no bound beyond ctx.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// NewClient returns a client for baseURL authenticating with token. Plain
// http:// is refused unless the host is a loopback address, so the token
// never crosses a network in clear.
func NewClient(baseURL, token string, opts ...Option) (*Client, error) {
	if token == "" {
		return nil, errors.New("flexapi: token is empty")
	}
	u, err := ParseBaseURL(baseURL)
	if err != nil {
		return nil, fmt.Errorf("flexapi: base URL %q %w", baseURL, err)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	c := &Client{
		base:      u,
		baseStr:   u.String(),
		auth:      "Bearer " + token,
		http:      &http.Client{Transport: newTransport()},
		userAgent: "flexlabel/" + Version,
		timeout:   defaultTimeout,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// MaxIdleConnsPerHost is how many idle connections the default transport
// keeps to the API: enough for a worker's concurrent calls, so that none
// pays a new TCP and TLS handshake (net/http's default keeps two).
const MaxIdleConnsPerHost = 64

// newTransport is net/http's default transport (proxy from the environment,
// dial and TLS timeouts, HTTP/2) keeping MaxIdleConnsPerHost connections.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = MaxIdleConnsPerHost
	t.MaxIdleConnsPerHost = MaxIdleConnsPerHost
	return t
}

// The base URL problems ParseBaseURL reports.
var (
	ErrBaseURLNotAbsolute = errors.New("is not an absolute URL")
	ErrBaseURLPlainHTTP   = errors.New("uses plain http to a non-loopback host; use https")
	ErrBaseURLScheme      = errors.New("must use https")
)

// ParseBaseURL parses an API base URL and applies the one rule for it: it
// is absolute and uses https, or plain http to a loopback host only, so the
// token never crosses a network in clear. The error is one of
// ErrBaseURLNotAbsolute, ErrBaseURLPlainHTTP and ErrBaseURLScheme.
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, ErrBaseURLNotAbsolute
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopback(u.Hostname()) {
			return nil, ErrBaseURLPlainHTTP
		}
	default:
		return nil, ErrBaseURLScheme
	}
	return u, nil
}

// IsLoopback reports whether host is localhost or a loopback IP.
func IsLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// String describes the client without its token. It and GoString have value
// receivers so that printing a Client value (not only a pointer) with %v or
// %#v cannot reveal the token either.
func (c Client) String() string {
	return fmt.Sprintf("flexapi.Client{base: %s, token: [redacted]}", c.base)
}

// GoString keeps the token out of %#v.
func (c Client) GoString() string { return c.String() }

// LogValue keeps the token out of structured logs.
func (c Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", c.base.String()), slog.String("token", "[redacted]"))
}

// BaseURL is the API base the client calls.
func (c *Client) BaseURL() string { return c.base.String() }

// CreateLabel calls POST /labels once. A created or replayed label returns
// (label, nil); a courier rejection returns the failed label and a
// *CourierRejectedError; other failures return *APIError, *RateLimitError or
// *NetworkError. Classify turns any of these into a decision.
func (c *Client) CreateLabel(ctx context.Context, req *LabelRequest) (*Label, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("flexapi: encoding label request: %w", err)
	}
	return c.CreateLabelJSON(ctx, body)
}

// CreateLabelJSON is CreateLabel for a request already encoded as JSON (a
// queued job carries its request that way); body is sent as it is.
func (c *Client) CreateLabelJSON(ctx context.Context, body []byte) (*Label, error) {
	var label Label
	status, err := c.do(ctx, http.MethodPost, "/labels", body, &label, true)
	if err != nil {
		return nil, err
	}
	label.Replayed = status == http.StatusOK
	if label.Status == StatusFailed {
		return &label, &CourierRejectedError{StatusCode: status, Label: &label}
	}
	return &label, nil
}

// GetLabel calls GET /labels/{id}; id is a label UUID or a customer order number.
func (c *Client) GetLabel(ctx context.Context, id string) (*LabelDocument, error) {
	if id == "" || strings.Contains(id, ",") {
		return nil, fmt.Errorf("flexapi: GetLabel: id %q must be one non-empty id", id)
	}
	var doc LabelDocument
	if _, err := c.do(ctx, http.MethodGet, "/labels/"+url.PathEscape(id), nil, &doc, false); err != nil {
		return nil, err
	}
	return &doc, nil
}

// GetLabels calls GET /labels/{id1,id2,…} once for several ids. Labels the API
// does not know (or failed labels) are silently left out, as the API does.
func (c *Client) GetLabels(ctx context.Context, ids ...string) ([]LabelDocument, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	esc := make([]string, len(ids))
	for i, id := range ids {
		if id == "" || strings.Contains(id, ",") {
			return nil, fmt.Errorf("flexapi: GetLabels: id %q must be non-empty without commas", id)
		}
		esc[i] = url.PathEscape(id)
	}
	path := "/labels/" + strings.Join(esc, ",")
	if len(ids) == 1 {
		doc, err := c.GetLabel(ctx, ids[0])
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, nil
			}
			return nil, err
		}
		return []LabelDocument{*doc}, nil
	}
	var batch struct {
		Labels []LabelDocument `json:"labels"`
	}
	if _, err := c.do(ctx, http.MethodGet, path, nil, &batch, false); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return batch.Labels, nil
}

// GetTracking calls GET /tracking/{id}. Tags the API adds later are reported
// as TagUnknown.
func (c *Client) GetTracking(ctx context.Context, id string) (*Tracking, error) {
	if id == "" {
		return nil, errors.New("flexapi: GetTracking: id is empty")
	}
	var t Tracking
	if _, err := c.do(ctx, http.MethodGet, "/tracking/"+url.PathEscape(id), nil, &t, false); err != nil {
		return nil, err
	}
	t.Tag = normalizeTag(t.Tag)
	for i := range t.Checkpoints {
		t.Checkpoints[i].Tag = normalizeTag(t.Checkpoints[i].Tag)
	}
	return &t, nil
}

func normalizeTag(tag string) string {
	switch tag {
	case TagPending, TagInfoReceived, TagInTransit, TagDelivered, TagException, TagCancelled:
		return tag
	}
	return TagUnknown
}

// GetProducts calls GET /products?courier=…[&locale=…]. The response shape is
// not documented, so it is returned as raw JSON.
func (c *Client) GetProducts(ctx context.Context, courier, locale string) (json.RawMessage, error) {
	if courier == "" {
		return nil, errors.New("flexapi: GetProducts: courier is empty")
	}
	q := url.Values{"courier": {courier}}
	if locale != "" {
		q.Set("locale", locale)
	}
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodGet, "/products?"+q.Encode(), nil, &raw, false); err != nil {
		return nil, err
	}
	return raw, nil
}

// GetCouriers calls GET /couriers. It accepts a bare array or {"couriers":[…]}.
func (c *Client) GetCouriers(ctx context.Context) ([]Courier, error) {
	var raw json.RawMessage
	if _, err := c.do(ctx, http.MethodGet, "/couriers", nil, &raw, false); err != nil {
		return nil, err
	}
	var list []Courier
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var wrapped struct {
		Couriers []Courier `json:"couriers"`
		Data     []Courier `json:"data"`
	}
	if err := json.Unmarshal(raw, &wrapped); err != nil {
		return nil, fmt.Errorf("flexapi: GET /couriers: unexpected body: %w", err)
	}
	if wrapped.Couriers != nil {
		return wrapped.Couriers, nil
	}
	return wrapped.Data, nil
}

// do makes one HTTP attempt and decodes a 2xx body into out. With
// labelOn502, a 502 carrying a label body decodes into out (a courier
// rejection) instead of becoming an error.
func (c *Client) do(ctx context.Context, method, path string, body []byte, out any, labelOn502 bool) (int, error) {
	route, _, _ := strings.Cut(path, "?")
	op := method + " " + route
	if strings.HasPrefix(path, "/labels/") {
		op = method + " /labels/{id}"
	} else if strings.HasPrefix(path, "/tracking/") {
		op = method + " /tracking/{id}"
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	u := c.baseStr + path
	var rdr io.Reader
	if body != nil {
		rdr = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rdr)
	if err != nil {
		return 0, fmt.Errorf("flexapi: %s: building request: %w", op, err)
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, c.networkError(op, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode >= 200 && resp.StatusCode < 300 || (labelOn502 && resp.StatusCode == http.StatusBadGateway) {
		limit := int64(maxSuccessBody)
		if resp.StatusCode >= 300 {
			limit = maxErrorBody
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
		if err != nil {
			return resp.StatusCode, c.networkError(op, err)
		}
		if resp.StatusCode == http.StatusBadGateway {
			var l Label
			if json.Unmarshal(data, &l) == nil && l.Status == StatusFailed {
				*(out.(*Label)) = l
				return resp.StatusCode, nil
			}
			return resp.StatusCode, apiError(resp.StatusCode, data)
		}
		if err := json.Unmarshal(data, out); err != nil {
			// A truncated 2xx body leaves the outcome unknown, like a dropped connection.
			return resp.StatusCode, &NetworkError{Op: op, Err: fmt.Errorf("HTTP %d with an unreadable body: %v", resp.StatusCode, err)}
		}
		return resp.StatusCode, nil
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode == http.StatusTooManyRequests {
		msg, _ := parseErrorBody(data)
		return resp.StatusCode, &RateLimitError{StatusCode: resp.StatusCode, Message: msg, RetryAfter: retryAfter(resp.Header, time.Now())}
	}
	return resp.StatusCode, apiError(resp.StatusCode, data)
}

// networkError wraps a transport failure; the token never appears in it
// because url.Error carries only the URL, and the token lives in a header.
func (c *Client) networkError(op string, err error) error {
	var ne net.Error
	timeout := errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is already in op
	}
	return &NetworkError{Op: op, Timeout: timeout, Err: err}
}

func apiError(status int, data []byte) *APIError {
	msg, details := parseErrorBody(data)
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &APIError{StatusCode: status, Message: msg, Details: details}
}

// parseErrorBody reads the three documented error shapes: {"error":"…"},
// {"error":"…","details":[…]}, and a label whose "error" is an object.
func parseErrorBody(data []byte) (string, []Detail) {
	var body struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Details []Detail        `json:"details"`
	}
	if json.Unmarshal(data, &body) != nil {
		s := strings.TrimSpace(string(data))
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		return s, nil
	}
	var s string
	if json.Unmarshal(body.Error, &s) == nil && s != "" {
		return s, body.Details
	}
	var le LabelError
	if json.Unmarshal(body.Error, &le) == nil && (le.Code != "" || le.Message != "") {
		return strings.TrimSpace(le.Code + " " + le.Message), body.Details
	}
	return body.Message, body.Details
}

// retryAfter reads Retry-After (seconds or an HTTP date), else
// X-RateLimit-Reset (a Unix time, or seconds when small).
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
			return time.Duration(secs * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			if d := t.Sub(now); d > 0 {
				return d
			}
			return 0
		}
	}
	if v := strings.TrimSpace(h.Get("X-RateLimit-Reset")); v != "" {
		if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 {
			if n > 1e9 { // a Unix timestamp
				if d := time.Unix(0, int64(n*1e9)).Sub(now); d > 0 {
					return d
				}
				return 0
			}
			return time.Duration(n * float64(time.Second))
		}
	}
	return 0
}
