package webhook_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/webhook"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		raw          string
		allowPrivate bool
		want         error
	}{
		{"https://orders.example.com/hooks/flexlabel", false, nil},
		{"https://orders.example.com:8443/h?x=1", false, nil},
		{"http://127.0.0.1:8080/h", false, nil},
		{"http://localhost:9/h", false, nil},
		{"http://hooks.localhost/h", false, nil},
		{"http://[::1]:9/h", false, nil},
		{"https://93.184.215.14/h", false, nil},
		{"http://orders.example.com/h", false, webhook.ErrURLPlainHTTP},
		{"http://10.0.0.1/h", true, webhook.ErrURLPlainHTTP}, // allowPrivate does not waive https
		{"https://10.0.0.1/h", false, webhook.ErrAddressRefused},
		{"https://10.0.0.1/h", true, nil},
		{"https://172.16.3.4/h", false, webhook.ErrAddressRefused},
		{"https://192.168.1.1/h", false, webhook.ErrAddressRefused},
		{"https://169.254.169.254/latest/meta-data", false, webhook.ErrAddressRefused},
		{"https://169.254.169.254/latest/meta-data", true, nil},
		{"https://100.64.0.1/h", false, webhook.ErrAddressRefused},
		{"https://[fd00::1]/h", false, webhook.ErrAddressRefused},
		{"https://[fe80::1%25eth0]/h", false, webhook.ErrAddressRefused},
		{"https://[::ffff:10.0.0.1]/h", false, webhook.ErrAddressRefused},
		{"https://[64:ff9b::a00:1]/h", false, webhook.ErrAddressRefused},
		{"https://[::ffff:100.64.0.1]/h", false, webhook.ErrAddressRefused},
		{"https://[64:ff9b::5db8:d70e]/h", false, nil},         // NAT64 of a public address
		{"https://0.0.0.0/h", true, webhook.ErrAddressRefused}, // never, even allowed
		{"https://224.0.0.1/h", true, webhook.ErrAddressRefused},
		{"https://[::]/h", true, webhook.ErrAddressRefused},
		{"https://255.255.255.255/h", true, webhook.ErrAddressRefused},
		{"https://user:s3cr3t@orders.example.com/h", false, webhook.ErrURLUserInfo},
		{"https://user@orders.example.com/h", false, webhook.ErrURLUserInfo},
		{"ftp://orders.example.com/h", false, webhook.ErrURLNotAbsolute},
		{"orders.example.com/h", false, webhook.ErrURLNotAbsolute},
		{"/hooks", false, webhook.ErrURLNotAbsolute},
		{"https://", false, webhook.ErrURLNotAbsolute},
		{"https://:443/h", false, webhook.ErrURLNotAbsolute},
		{"http://%zz", false, webhook.ErrURLNotAbsolute},
		{"", false, webhook.ErrURLNotAbsolute},
	} {
		err := webhook.CheckURL(c.raw, c.allowPrivate)
		if c.want == nil {
			require.NoError(t, err, c.raw)
			continue
		}
		require.ErrorIs(t, err, c.want, c.raw)
		var ue *webhook.URLError
		require.True(t, errors.As(err, &ue), c.raw)
		require.Equal(t, "url", ue.Field)
		require.True(t, strings.HasPrefix(err.Error(), "url: "), err.Error())
		require.NotContains(t, err.Error(), "s3cr3t", "the error must not repeat a password")
	}
}

// webhook restates flexapi.IsLoopback (to stay free of it); they must agree,
// which shows as CheckURL accepting plain http exactly where the API base
// URL rule does.
func TestCheckURL_LoopbackAgreesWithFlexapi(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"localhost", "a.localhost", "127.0.0.1", "127.8.9.10", "[::1]", "[::ffff:127.0.0.1]",
		"localhost.example.com", "example.com", "10.0.0.1", "[fd00::1]", "[::]", "0.0.0.0", "mylocalhost"} {
		raw := "http://" + host + ":9/h"
		u, err := url.Parse(raw)
		require.NoError(t, err)
		err = webhook.CheckURL(raw, true)
		require.Equal(t, flexapi.IsLoopback(u.Hostname()), !errors.Is(err, webhook.ErrURLPlainHTTP), "%s: %v", host, err)
	}
}

// receiver is an httptest server on 127.0.0.1 counting the requests it gets.
func receiver(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func post(c *http.Client, u string) (*http.Response, error) {
	resp, err := c.Post(u, "application/json", bytes.NewReader(body))
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

func TestNewClient_LoopbackURL_Delivered(t *testing.T) {
	t.Parallel()
	srv, hits := receiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	resp, err := post(webhook.NewClient(webhook.ClientOptions{}), srv.URL)
	require.NoError(t, err)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.EqualValues(t, 1, hits.Load())
}

// A name that resolves to an internal address (DNS rebinding, or a name an
// attacker controls) is refused when the connection is made, whatever the
// URL looked like when the subscription was checked.
func TestNewClient_NameResolvingInternal_RefusedAtDial(t *testing.T) {
	t.Parallel()
	srv, hits := receiver(t, func(w http.ResponseWriter, r *http.Request) {})
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	hosts := map[string]string{"rebind.example": "127.0.0.1", "meta.example": "169.254.169.254", "lan.example": "10.1.2.3"}
	c := webhook.NewClientResolving(webhook.ClientOptions{Timeout: 5 * time.Second}, hosts)
	for name := range hosts {
		require.NoError(t, webhook.CheckURL("https://"+name+"/h", false), "the URL alone looks fine")
		// The guard runs before TLS, so plain http to the name is refused by
		// CheckURL's own rule; https shows the dial check.
		_, err := post(c, "https://"+name+":"+port+"/h")
		require.ErrorIs(t, err, webhook.ErrAddressRefused, name)
	}
	require.Zero(t, hits.Load())

	// With AllowPrivate the loopback name connects (the TLS handshake then
	// fails against the plain test server, after the dial was allowed).
	allowed := webhook.NewClientResolving(webhook.ClientOptions{AllowPrivate: true, Timeout: 5 * time.Second}, hosts)
	_, err = post(allowed, "https://rebind.example:"+port+"/h")
	require.Error(t, err)
	require.NotErrorIs(t, err, webhook.ErrAddressRefused)
}

// The request's URL is checked again at send time, so a stored URL that no
// longer passes (or was never checked) cannot be sent to.
func TestNewClient_RefusedURL_NotSent(t *testing.T) {
	t.Parallel()
	c := webhook.NewClient(webhook.ClientOptions{})
	for u, want := range map[string]error{
		"https://10.0.0.1/h":           webhook.ErrAddressRefused,
		"https://169.254.169.254/h":    webhook.ErrAddressRefused,
		"http://orders.example.com/h":  webhook.ErrURLPlainHTTP,
		"https://u:p@orders.example/h": webhook.ErrURLUserInfo,
	} {
		_, err := post(c, u)
		require.ErrorIs(t, err, want, u)
	}
	// AllowPrivate lets a private literal through the URL check (dialed
	// here at the local test server, so the test never leaves the machine;
	// TLS then fails against its plain HTTP).
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {})
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	allowed := webhook.NewClientResolving(webhook.ClientOptions{AllowPrivate: true}, map[string]string{"10.0.0.1": "127.0.0.1"})
	_, err = post(allowed, "https://10.0.0.1:"+port+"/h")
	require.Error(t, err)
	require.NotErrorIs(t, err, webhook.ErrAddressRefused)
}

// A proxy would connect on the client's behalf, past the dial check.
func TestNewClient_NoProxyFromEnvironment(t *testing.T) {
	t.Parallel()
	require.False(t, webhook.UsesProxy(webhook.NewClient(webhook.ClientOptions{})))
}

func TestNewClient_Redirect_NotFollowed(t *testing.T) {
	t.Parallel()
	target, targetHits := receiver(t, func(w http.ResponseWriter, r *http.Request) {})
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusTemporaryRedirect)
	})
	resp, err := post(webhook.NewClient(webhook.ClientOptions{}), srv.URL)
	require.NoError(t, err)
	require.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode, "the 3xx is the answer")
	require.Zero(t, targetHits.Load())
}

func TestNewClient_SlowReceiver_TimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	_, err := post(webhook.NewClient(webhook.ClientOptions{Timeout: 50 * time.Millisecond}), srv.URL)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), "%v", err)
}

func TestReadLimited(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		in        string
		n         int
		want      string
		truncated bool
	}{
		{"short", "ok", 4, "ok", false},
		{"exact", "four", 4, "four", false},
		{"one over", "fives", 4, "five", true},
		{"empty", "", 4, "", false},
	} {
		got, truncated, err := webhook.ReadLimited(strings.NewReader(c.in), c.n)
		require.NoError(t, err, c.name)
		require.Equal(t, c.want, string(got), c.name)
		require.Equal(t, c.truncated, truncated, c.name)
	}

	// The default is 4 KiB, and an endless answer is not read to its end.
	endless := &countingReader{}
	got, truncated, err := webhook.ReadLimited(endless, 0)
	require.NoError(t, err)
	require.Len(t, got, webhook.DefaultResponseLimit)
	require.Equal(t, 4096, webhook.DefaultResponseLimit)
	require.True(t, truncated)
	require.LessOrEqual(t, endless.n, int64(webhook.DefaultResponseLimit+1))

	// A read error is returned with what was read before it.
	got, _, err = webhook.ReadLimited(io.MultiReader(strings.NewReader("part"), iotest.ErrReader(io.ErrUnexpectedEOF)), 10)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Equal(t, "part", string(got))
}

// countingReader is an endless stream of 'x' that counts what was taken.
type countingReader struct{ n int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	r.n += int64(len(p))
	return len(p), nil
}

// Parallel deliveries to one receiver reuse their connections: after the
// first round, no new ones are opened (Go's default of 2 idle connections
// per host would open one for nearly every request of 10 in parallel).
func TestNewClient_ParallelDeliveries_ReuseConnections(t *testing.T) {
	t.Parallel()
	const parallel, rounds = 10, 20
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := webhook.NewClient(webhook.ClientOptions{})
	for range rounds {
		done := make(chan error, parallel)
		for range parallel {
			go func() {
				resp, err := c.Post(srv.URL, "application/json", bytes.NewReader(body))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				done <- err
			}()
		}
		for range parallel {
			require.NoError(t, <-done)
		}
	}
	require.LessOrEqual(t, conns.Load(), int64(parallel), "%d connections for %d requests, at most %d in parallel", conns.Load(), parallel*rounds, parallel)
}
