package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"
)

// The contract layer: every request the HTTP tests send and every answer
// they get goes through contractTransport, which checks both against
// openapi.yaml with kin-openapi's openapi3filter. A handler drifting from
// the document (a status, header or body it does not declare) fails the
// test that made the request, whatever that test asserts itself.

var (
	contractOnce   sync.Once
	contractDoc    *openapi3.T
	contractRouter routers.Router
	contractErr    error
)

func contract(t testing.TB) (*openapi3.T, routers.Router) {
	t.Helper()
	contractOnce.Do(func() {
		// NDJSON is declared as a string: read it as text.
		openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.PlainBodyDecoder)
		doc := loadKinDoc(t)
		contractDoc = doc
		contractRouter, contractErr = legacy.NewRouter(doc)
	})
	require.NoError(t, contractErr)
	require.NotNil(t, contractDoc, "openapi.yaml did not load")
	return contractDoc, contractRouter
}

// contractTransport validates each exchange against the document.
type contractTransport struct {
	t    testing.TB
	base http.RoundTripper
	// undocumented are mux patterns a test mounted itself (metrics, UI):
	// not part of the API, so not in the document.
	undocumented func(*http.Request) bool
}

func (c *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if problem := c.check(req, reqBody, resp, respBody); problem != "" {
		c.t.Errorf("%s %s: %s\nresponse %d: %s", req.Method, req.URL.RequestURI(), problem, resp.StatusCode, respBody)
	}
	return resp, nil
}

// check returns what does not match the document, or "".
func (c *contractTransport) check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) string {
	doc, router := contract(c.t)
	// Route on the path as sent, so %2F in a key stays in its segment.
	vreq := req.Clone(context.Background())
	vreq.URL = &url.URL{Path: req.URL.EscapedPath(), RawQuery: req.URL.RawQuery}
	checked := decodedForCheck(req, reqBody)
	vreq.Body = io.NopCloser(bytes.NewReader(checked))
	vreq.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(checked)), nil }
	vreq.ContentLength = int64(len(checked))
	route, params, err := router.FindRoute(vreq)
	for _, v := range params {
		if v == "" && err == nil {
			// The router takes "/v1/labels" for "/v1/labels/{key}"
			// with an empty key; ServeMux does not.
			err = errors.New("empty path parameter")
		}
	}
	if err != nil {
		if c.undocumented != nil && c.undocumented(req) {
			return ""
		}
		// Not an operation of the document: the answer is the
		// documented JSON 404 or 405.
		switch resp.StatusCode {
		case http.StatusNotFound, http.StatusMethodNotAllowed:
		default:
			return fmt.Sprintf("no documented operation (%v), yet answered %d", err, resp.StatusCode)
		}
		if req.Method == http.MethodHead {
			// No body; the headers still say JSON.
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				return fmt.Sprintf("Content-Type %q, want application/json", ct)
			}
			return ""
		}
		return checkSchema(doc, "Error", resp, respBody)
	}
	for k, v := range params {
		if s, err := url.PathUnescape(v); err == nil {
			params[k] = s
		}
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    vreq,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			MultiError:            true,
			IncludeResponseStatus: true,
			AuthenticationFunc:    presentedScheme,
		},
	}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	// A request the document forbids must be refused; the lenient
	// exceptions the document states in prose (any content type for a
	// JSON body) are not refusals.
	if reqErr != nil && resp.StatusCode < 400 && !onlyContentTypeErrors(reqErr) {
		return fmt.Sprintf("the document forbids this request (%v), yet it was answered %d", reqErr, resp.StatusCode)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                in.Options,
	}
	out.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return "the answer does not match the document: " + err.Error()
	}
	return ""
}

// decodedForCheck is the body the document describes: a gzip body
// decoded (the document allows Content-Encoding: gzip).
func decodedForCheck(req *http.Request, body []byte) []byte {
	if !strings.EqualFold(strings.TrimSpace(req.Header.Get("Content-Encoding")), "gzip") {
		return body
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return body
	}
	b, err := io.ReadAll(io.LimitReader(zr, 16<<20))
	if err != nil {
		return body
	}
	return b
}

// presentedScheme holds a security scheme satisfied when the request
// presents a credential of that scheme; whether the token is right is the
// server's to say (401), not the document's.
func presentedScheme(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, _, _ := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if strings.EqualFold(scheme, in.SecurityScheme.Scheme) {
		return nil
	}
	return in.NewError(errors.New("no credential of this scheme"))
}

func onlyContentTypeErrors(err error) bool {
	var me openapi3.MultiError
	if !errors.As(err, &me) {
		me = openapi3.MultiError{err}
	}
	for _, e := range me {
		var re *openapi3filter.RequestError
		if !errors.As(e, &re) || !strings.Contains(re.Error(), "Content-Type") {
			return false
		}
	}
	return len(me) > 0
}

// checkSchema validates a JSON answer against a component schema.
func checkSchema(doc *openapi3.T, name string, resp *http.Response, body []byte) string {
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		return fmt.Sprintf("Content-Type %q, want application/json", ct)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return "not JSON: " + err.Error()
	}
	if err := doc.Components.Schemas[name].Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Sprintf("not a %s: %v", name, err)
	}
	return ""
}

func TestContract_CatchesDrift(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A route answering a status its operation does not declare, or a body
	// of another shape, is reported by the layer.
	ft := &fakeT{TB: t}
	ct := &contractTransport{t: ft, base: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(`{"status":"fine"}`)), Request: req}, nil
	})}
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/healthz", nil)
	require.NoError(t, err)
	_, err = ct.RoundTrip(req)
	require.NoError(t, err)
	require.Len(t, ft.errors, 1)
	require.Contains(t, ft.errors[0], "does not match the document")

	ft.errors = nil
	req, err = http.NewRequest(http.MethodGet, e.srv.URL+"/v1/dead-letters?limit=5000", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	_, err = ct.RoundTrip(req)
	require.NoError(t, err)
	require.Len(t, ft.errors, 1)
	require.Contains(t, ft.errors[0], "the document forbids this request")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fakeT records Errorf calls, to test the layer itself.
type fakeT struct {
	testing.TB
	errors []string
}

func (f *fakeT) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
