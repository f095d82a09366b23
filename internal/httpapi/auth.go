package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// RequireToken returns middleware that lets a request through only if it
// carries one of tokens, as "Authorization: Bearer <token>" or as the
// password of HTTP basic auth (any user name), so browsers can log in too.
// Anything else gets 401 {"error":"unauthorized"} with Bearer and Basic
// challenges. Empty tokens are ignored; with none left every request is
// refused.
//
// The presented token is compared with every configured token, each
// through SHA-256 so that neither which token matched nor a token's length
// shows in the timing.
func RequireToken(tokens []string) func(http.Handler) http.Handler {
	sums := make([][sha256.Size]byte, 0, len(tokens))
	for _, t := range tokens {
		if t != "" {
			sums = append(sums, sha256.Sum256([]byte(t)))
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tok, ok := credential(r); ok && matchToken(sums, tok) {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Add("WWW-Authenticate", `Bearer realm="flexlabel"`)
			w.Header().Add("WWW-Authenticate", `Basic realm="flexlabel", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "unauthorized")
		})
	}
}

// credential extracts the presented token: a bearer token, or a basic-auth
// password.
func credential(r *http.Request) (string, bool) {
	scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok {
		return "", false
	}
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		tok := strings.TrimSpace(rest)
		return tok, tok != ""
	case strings.EqualFold(scheme, "Basic"):
		_, pass, ok := r.BasicAuth()
		return pass, ok && pass != ""
	}
	return "", false
}

func matchToken(sums [][sha256.Size]byte, tok string) bool {
	got := sha256.Sum256([]byte(tok))
	match := 0
	for i := range sums {
		match |= subtle.ConstantTimeCompare(got[:], sums[i][:])
	}
	return match == 1
}
