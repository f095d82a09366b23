package httpapi

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// Listener wraps ln so that the errors net/http answers itself, before any
// handler runs, are JSON with "error" like every other answer of the API:
// a request it cannot parse (a bad escape in the path, a malformed request
// line or header, a missing Host: 400), headers over the server's
// MaxHeaderBytes (431), an unsupported HTTP version (505) or
// Transfer-Encoding (501), and an Expect other than 100-continue (417).
//
// No Handler, ConnState hook or ErrorLog sees those requests: net/http
// writes its plain-text answer straight to the connection and closes it.
// So the connection itself recognises them, by the exact bytes net/http
// writes (TestNetHTTPErrors_JSON pins them), and sends the JSON answer
// instead. Everything else passes through untouched.
func Listener(ln net.Listener) net.Listener { return jsonErrorListener{ln} }

type jsonErrorListener struct{ net.Listener }

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorConn{Conn: c}, nil
}

type jsonErrorConn struct{ net.Conn }

// Write sends p, or its JSON version when p is one of net/http's own error
// answers. net/http writes each of those with one Write.
func (c *jsonErrorConn) Write(p []byte) (int, error) {
	b, ok := jsonVersion(p)
	if !ok {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite lets net/http half-close after a 431, as it does on a bare
// TCP connection, so the client reads the answer before the connection
// goes.
func (c *jsonErrorConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// netHTTPErrorHeaders follow the status line of every error net/http
// answers before a handler runs (conn.serve in net/http/server.go).
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// expectationFailed starts the 417 net/http answers to an unsupported
// Expect; the API's handlers never send 417.
const expectationFailed = "HTTP/1.1 417 Expectation Failed\r\n"

// jsonVersion returns the JSON answer for one of net/http's own plain-text
// error answers, and false for anything else.
func jsonVersion(p []byte) ([]byte, bool) {
	var code int
	var msg string
	switch {
	case bytes.HasPrefix(p, []byte(expectationFailed)):
		code, msg = http.StatusExpectationFailed, "Expect: only 100-continue is supported"
	case bytes.HasPrefix(p, []byte("HTTP/1.1 ")):
		line, rest, ok := bytes.Cut(p, []byte("\r\n"))
		if !ok || !bytes.HasPrefix(rest, []byte(netHTTPErrorHeaders[2:])) || len(line) < len("HTTP/1.1 400") {
			return nil, false
		}
		n, err := strconv.Atoi(string(line[len("HTTP/1.1 ") : len("HTTP/1.1 ")+3]))
		if err != nil || n < 400 {
			return nil, false
		}
		code, msg = n, netHTTPMessage(n, string(rest[len(netHTTPErrorHeaders)-2:]))
	default:
		return nil, false
	}
	body, _ := json.Marshal(errorBody{Error: msg})
	body = append(body, '\n')
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", code, http.StatusText(code))
	b.WriteString("Content-Type: application/json\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n")
	fmt.Fprintf(&b, "%s: %s\r\n", requestIDHeader, rand.Text())
	fmt.Fprintf(&b, "Connection: close\r\nContent-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	return b.Bytes(), true
}

// netHTTPMessage words net/http's plain-text body ("400 Bad Request: missing
// required Host header") as an API error.
func netHTTPMessage(code int, text string) string {
	switch code {
	case http.StatusRequestHeaderFieldsTooLarge:
		return "request headers are too large"
	case http.StatusNotImplemented:
		return "Transfer-Encoding: not supported (send chunked, or a Content-Length)"
	}
	prefix := fmt.Sprintf("%d %s", code, http.StatusText(code))
	if detail, ok := bytes.CutPrefix([]byte(text), []byte(prefix+": ")); ok {
		return "malformed request: " + string(detail)
	}
	return "malformed request: the request line or a header cannot be parsed (is every % in the path followed by two hex digits?)"
}
