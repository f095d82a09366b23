package webhook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// The problems CheckURL reports, inside a *URLError; match with errors.Is.
var (
	ErrURLNotAbsolute = errors.New("must be an absolute http:// or https:// URL")
	ErrURLPlainHTTP   = errors.New("uses plain http to a non-loopback host; use https")
	ErrURLUserInfo    = errors.New("must not contain a user name or password")
	// ErrAddressRefused is also what NewClient's connections fail with when
	// the destination resolves to an address the rules refuse.
	ErrAddressRefused = errors.New("is an internal address (private, link-local, CGNAT, multicast or unspecified)")
)

// URLError is a destination CheckURL refuses. Field is the request field it
// belongs to ("url"), so an HTTP front end reports it as a field error.
type URLError struct {
	Field string
	Err   error
}

func (e *URLError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *URLError) Unwrap() error { return e.Err }

// CheckURL applies the rules for a subscription's destination: an absolute
// http or https URL without user info; https unless the host is loopback
// (localhost or a loopback IP, as for the API base URL); and, unless
// allowPrivate, not an IP literal in an internal range (see NewClient). A
// host name is not resolved here; NewClient checks what it resolves to on
// every connection. The error is a *URLError; it does not repeat the URL,
// which may hold a password.
func CheckURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return &URLError{Field: "url", Err: ErrURLNotAbsolute}
	}
	return checkParsed(u, allowPrivate)
}

func checkParsed(u *url.URL, allowPrivate bool) error {
	if u.User != nil {
		return &URLError{Field: "url", Err: ErrURLUserInfo}
	}
	host := u.Hostname()
	loopback := isLoopbackHost(host)
	if u.Scheme == "http" && !loopback {
		return &URLError{Field: "url", Err: ErrURLPlainHTTP}
	}
	if ip, err := netip.ParseAddr(host); err == nil && !addrAllowed(ip, loopback, allowPrivate) {
		return &URLError{Field: "url", Err: ErrAddressRefused}
	}
	return nil
}

// isLoopbackHost is flexapi.IsLoopback, restated so that receivers importing
// this package do not pull in the API client; a test keeps the two equal.
func isLoopbackHost(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

var (
	cgnat       = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")     // 0.x dials the local host on Linux
	reserved    = netip.MustParsePrefix("240.0.0.0/4")   // includes broadcast
	siteLocal   = netip.MustParsePrefix("fec0::/10")     // deprecated, still routed internally
	nat64       = netip.MustParsePrefix("64:ff9b::/96")  // embeds an IPv4 address
	benchmark   = netip.MustParsePrefix("198.18.0.0/15") // RFC 2544, used inside networks
)

// addrAllowed is the one address rule. Never: unspecified, this-network,
// multicast, reserved/broadcast. Loopback: when the URL's host is itself
// loopback, or allowPrivate. Private (RFC 1918, fc00::/7), link-local
// (169.254/16 with cloud metadata, fe80::/10), CGNAT (100.64/10), site-local
// and benchmarking ranges: only with allowPrivate. An IPv4-mapped or NAT64
// address is judged by the IPv4 address it carries.
func addrAllowed(ip netip.Addr, hostIsLoopback, allowPrivate bool) bool {
	ip = ip.WithZone("").Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	switch {
	case ip.IsUnspecified(), ip.IsMulticast(), thisNetwork.Contains(ip), reserved.Contains(ip):
		return false
	case ip.IsLoopback():
		return hostIsLoopback || allowPrivate
	case ip.IsPrivate(), ip.IsLinkLocalUnicast(), cgnat.Contains(ip), siteLocal.Contains(ip), benchmark.Contains(ip):
		return allowPrivate
	}
	return true
}

// DefaultTimeout bounds one delivery: connecting, sending, and reading the
// answer.
const DefaultTimeout = 10 * time.Second

// ClientOptions configures NewClient; the zero value is the safe default.
type ClientOptions struct {
	// AllowPrivate lets deliveries reach private, link-local and CGNAT
	// addresses (receivers inside the operator's network). Off by default
	// so that a subscription cannot be used to probe the internal network.
	AllowPrivate bool
	// Timeout bounds each request; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxIdleConnsPerHost is how many idle connections to one receiver
	// are kept for reuse; 0 means DefaultMaxIdleConnsPerHost. Go's own
	// default (2) makes parallel deliveries to one receiver open — and,
	// over TLS, handshake — a connection for nearly every request.
	MaxIdleConnsPerHost int
}

// DefaultMaxIdleConnsPerHost is ClientOptions.MaxIdleConnsPerHost's
// default: more than the delivery slots one receiver is likely to hold at
// once.
const DefaultMaxIdleConnsPerHost = 32

// NewClient returns the HTTP client deliveries are sent with. Before each
// request it applies CheckURL to the request's URL; on each connection it
// checks the IP actually dialed (after DNS), so a name that resolves, or
// re-resolves, to a refused address fails with an error matching
// ErrAddressRefused. Loopback IPs are dialed only when the URL's host is
// itself loopback (or AllowPrivate). Redirects are not followed: the 3xx is
// the answer. Proxies from the environment are not used, since a proxy
// would connect on our behalf past the address check.
func NewClient(o ClientOptions) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = DefaultMaxIdleConnsPerHost
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.MaxIdleConnsPerHost = o.MaxIdleConnsPerHost
	t.DialContext = guardedDial(o.AllowPrivate, nil)
	return &http.Client{
		Transport: &guardedTransport{next: t, allowPrivate: o.AllowPrivate},
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

type guardedTransport struct {
	next         http.RoundTripper
	allowPrivate bool
}

func (g *guardedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL == nil || (r.URL.Scheme != "http" && r.URL.Scheme != "https") || r.URL.Hostname() == "" {
		closeBody(r)
		return nil, &URLError{Field: "url", Err: ErrURLNotAbsolute}
	}
	if err := checkParsed(r.URL, g.allowPrivate); err != nil {
		closeBody(r)
		return nil, err
	}
	return g.next.RoundTrip(r)
}

// closeBody honours RoundTripper's contract: the body is closed even on error.
func closeBody(r *http.Request) {
	if r.Body != nil {
		r.Body.Close()
	}
}

// guardedDial dials like net/http's default, checking in Control every IP
// the dialer tries (each of a name's addresses, for Happy Eyeballs).
// Tests pass hosts, a stand-in for DNS: a name in it is dialed at its IP,
// which Control then judges as it would a resolved address.
func guardedDial(allowPrivate bool, hosts map[string]string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		hostIsLoopback := isLoopbackHost(host)
		if ip, ok := hosts[host]; ok {
			addr = net.JoinHostPort(ip, port)
		}
		d := net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
			Control: func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return fmt.Errorf("webhook: dialing %s: %w", address, err)
				}
				if !addrAllowed(ap.Addr(), hostIsLoopback, allowPrivate) {
					return fmt.Errorf("webhook: destination %s %w", ap.Addr(), ErrAddressRefused)
				}
				return nil
			},
		}
		return d.DialContext(ctx, network, addr)
	}
}

// DefaultResponseLimit is how much of a receiver's answer the delivery log
// keeps.
const DefaultResponseLimit = 4 << 10

// ReadLimited reads at most n bytes of r (n <= 0 means
// DefaultResponseLimit) and reports whether there was more. It reads one byte
// past n to know, never more, so a receiver cannot make a delivery read an
// endless answer; a short answer is read to its end, which lets the
// connection be reused. The caller still closes r.
func ReadLimited(r io.Reader, n int) (b []byte, truncated bool, err error) {
	if n <= 0 {
		n = DefaultResponseLimit
	}
	b, err = io.ReadAll(io.LimitReader(r, int64(n)+1))
	if len(b) > n {
		return b[:n], true, err
	}
	return b, false, err
}
