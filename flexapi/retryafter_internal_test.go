package flexapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 27, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		headers map[string]string
		want    time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "3"}, 3 * time.Second},
		{"fractional seconds", map[string]string{"Retry-After": " 1.5 "}, 1500 * time.Millisecond},
		{"HTTP date", map[string]string{"Retry-After": now.Add(5 * time.Second).Format(http.TimeFormat)}, 5 * time.Second},
		{"past HTTP date", map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"Retry-After wins", map[string]string{"Retry-After": "2", "X-RateLimit-Reset": "9"}, 2 * time.Second},
		{"garbage falls back to reset", map[string]string{"Retry-After": "soon", "X-RateLimit-Reset": "4"}, 4 * time.Second},
		{"negative seconds fall back to reset", map[string]string{"Retry-After": "-1", "X-RateLimit-Reset": "4"}, 4 * time.Second},
		{"reset as seconds", map[string]string{"X-RateLimit-Reset": "7"}, 7 * time.Second},
		{"reset as Unix time", map[string]string{"X-RateLimit-Reset": "1779876006"}, 6 * time.Second},
		{"past reset", map[string]string{"X-RateLimit-Reset": "1779875000"}, 0},
		{"garbage reset", map[string]string{"X-RateLimit-Reset": "later"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for k, v := range tc.headers {
				h.Set(k, v)
			}
			require.Equal(t, tc.want, retryAfter(h, now))
		})
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost": true, "api.localhost": true, "127.0.0.1": true, "127.1.2.3": true, "::1": true,
		"": false, "example.com": false, "10.0.0.1": false, "localhost.example.com": false, "0.0.0.0": false,
	} {
		require.Equal(t, want, IsLoopback(host), host)
	}
}
