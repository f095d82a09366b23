package flexapi_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
)

// ParseBaseURL is the one https-or-loopback rule: NewClient and config's
// FLEXFORWARD_BASE_URL check both apply it.
func TestParseBaseURL_HTTPSOrLoopback(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]error{
		"https://api.flexforwardship.com": nil,
		"http://127.0.0.1:8080":           nil,
		"http://localhost:9":              nil,
		"http://[::1]:9/v1":               nil,
		"http://api.example.com":          flexapi.ErrBaseURLPlainHTTP,
		"http://10.0.0.1":                 flexapi.ErrBaseURLPlainHTTP,
		"ftp://127.0.0.1":                 flexapi.ErrBaseURLScheme,
		"api.example.com":                 flexapi.ErrBaseURLNotAbsolute,
		"https://":                        flexapi.ErrBaseURLNotAbsolute,
		"http://%zz":                      flexapi.ErrBaseURLNotAbsolute,
	} {
		_, err := flexapi.ParseBaseURL(raw)
		require.ErrorIs(t, err, want, raw)
		if want == nil {
			require.NoError(t, err, raw)
		}
		_, cerr := flexapi.NewClient(raw, "tok")
		require.Equal(t, err == nil, cerr == nil, "NewClient agrees on %q: %v", raw, cerr)
		if want != nil {
			require.ErrorIs(t, cerr, want, raw)
		}
	}
}
