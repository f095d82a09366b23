package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/httpapi"
)

// Health is the one pair of health handlers, served by the API and by the
// worker's ops server: the same bodies, headers and Retry-After everywhere.
func TestHealth_ReadyzFollowsTheCheck(t *testing.T) {
	t.Parallel()
	var down error
	healthz, readyz := httpapi.Health(func(context.Context) error { return down }, nil)
	get := func(h http.HandlerFunc) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h(w, httptest.NewRequest(http.MethodGet, "/", nil))
		return w
	}

	w := get(healthz)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, `{"status":"ok"}`+"\n", w.Body.String())
	require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	require.Equal(t, "no-store", w.Header().Get("Cache-Control"))

	w = get(readyz)
	require.Equal(t, http.StatusOK, w.Code)
	require.Equal(t, `{"status":"ready"}`+"\n", w.Body.String())

	down = errors.New("dial tcp 10.0.0.7:6379: connection refused")
	w = get(readyz)
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "1", w.Header().Get("Retry-After"))
	require.Equal(t, `{"status":"unavailable","error":"not ready"}`+"\n", w.Body.String(), "the cause is not sent: it names internal addresses")
}
