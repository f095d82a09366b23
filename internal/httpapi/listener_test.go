package httpapi_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/httpapi"
)

// serveReal serves h as serve does: NewServer over Listener, on a real
// TCP listener.
func serveReal(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := httpapi.NewServer(ln.Addr().String(), h)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(httpapi.Listener(ln)) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String()
}

// rawExchange writes raw bytes on a new connection and reads one answer.
func rawExchange(t *testing.T, addr, raw string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, raw)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, b
}

// TestNetHTTPErrors_JSON: the answers net/http gives before any handler
// runs are JSON with error, like every other answer.
func TestNetHTTPErrors_JSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := serveReal(t, e.h)
	cases := []struct {
		name, raw string
		code      int
		msg       string
	}{
		{"bad escape in the path", "GET /v1/labels/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed request"},
		{"bad escape, HTTP/1.0", "GET /v1/labels/50%ZZ HTTP/1.0\r\n\r\n", 400, "malformed request"},
		{"no Host", "GET /healthz HTTP/1.1\r\n\r\n", 400, "malformed request: missing required Host header"},
		{"bad header name", "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400, "malformed request"},
		{"malformed request line", "NONSENSE\r\n\r\n", 400, "malformed request"},
		{"HTTP version", "GET /healthz HTTP/7.0\r\nHost: x\r\n\r\n", 505, "malformed request: unsupported protocol version"},
		{"headers too large", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 80<<10) + "\r\n\r\n", 431, "request headers are too large"},
		{"transfer encoding", "POST /v1/labels HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "Transfer-Encoding"},
		{"two Content-Lengths", "POST /v1/labels HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n{}", 400, "malformed request"},
		{"HTTP/2 preface (reaches the mux)", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 404, "not found"},
		{"expectation", "POST /v1/labels HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 2\r\n\r\n{}", 417, "Expect"},
	}
	for _, c := range cases {
		resp, body := rawExchange(t, addr, c.raw)
		require.Equal(t, c.code, resp.StatusCode, "%s: %s", c.name, body)
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"), c.name)
		require.Len(t, resp.Header.Get("X-Request-Id"), 26, c.name)
		var got struct {
			Error string `json:"error"`
		}
		require.NoError(t, json.Unmarshal(body, &got), "%s: %s", c.name, body)
		require.Contains(t, got.Error, c.msg, c.name)
	}
	// Handler answers pass through untouched, on a connection kept alive.
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	br := bufio.NewReader(conn)
	for range 2 {
		_, err = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		require.NoError(t, err)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.JSONEq(t, `{"status":"ok"}`, string(b))
	}
}
