package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/flexlabel/flexlabel/internal/auth"
)

// Anonymous is the caller of every request when the API serves without
// authentication (--insecure-no-auth, dev): it may do everything.
var Anonymous = auth.Principal{ID: "anonymous", Scope: auth.All}

// requestInfo is what the request log line learns from the handlers.
type requestInfo struct {
	tokenID string
}

type requestInfoKey struct{}

// guard lets a request through to next only when it carries a token with
// one of scopes, putting the token's principal in the request's context;
// a request without a known token gets 401 {"error":"unauthorized"} with
// Bearer and Basic challenges, one whose token lacks the scope 403 naming
// it. Without authentication every request goes through as Anonymous.
// Public scopes (auth.Public alone) let every request through as it is.
func (h *Handler) guard(scopes []auth.Scope, next http.Handler) http.Handler {
	if len(scopes) == 0 || slices.Contains(scopes, auth.Public) {
		if h.tokens == nil {
			return AsAnonymous(next)
		}
		return next
	}
	need := make([]string, len(scopes))
	for i, s := range scopes {
		need[i] = string(s)
	}
	lacks := "this token lacks scope " + strings.Join(need, " or ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := Anonymous
		if h.tokens != nil {
			var ok bool
			if p, ok = h.principal(r); !ok {
				w.Header().Add("WWW-Authenticate", `Bearer realm="flexlabel"`)
				w.Header().Add("WWW-Authenticate", `Basic realm="flexlabel", charset="UTF-8"`)
				writeError(w, http.StatusUnauthorized, "unauthorized")
				return
			}
		}
		noteToken(r.Context(), p.ID)
		if !slices.ContainsFunc(scopes, p.Has) {
			writeError(w, http.StatusForbidden, lacks)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
	})
}

// AsAnonymous serves next to everyone as Anonymous, with scope all: for
// dev's console on a loopback address, which is opened in a browser
// without a token.
func AsAnonymous(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noteToken(r.Context(), Anonymous.ID)
		next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), Anonymous)))
	})
}

func noteToken(ctx context.Context, id string) {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		info.tokenID = id
	}
}

// principal resolves the presented token: a bearer token, or a basic-auth
// password (any user name), so browsers can log in too.
func (h *Handler) principal(r *http.Request) (auth.Principal, bool) {
	tok, ok := credential(r)
	if !ok {
		return auth.Principal{}, false
	}
	return h.tokens.Lookup(tok)
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

// principalOf is the caller of a guarded request.
func principalOf(r *http.Request) auth.Principal {
	p, ok := auth.FromContext(r.Context())
	if !ok {
		// Only guarded routes call this; reaching it otherwise is a bug,
		// and the safe answer is a caller that may do nothing.
		return auth.Principal{ID: "none", Prefixes: []string{"\x00"}, Accounts: []string{"\x00"}}
	}
	return p
}

// formTypes are the content types a page on another site can send with a
// plain HTML form, without the browser asking first (CORS "simple"
// requests). A state-changing route refuses them, so that such a form
// cannot act even in a browser that sends neither Sec-Fetch-Site nor Origin.
var formTypes = []string{"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}

// checkContentType returns next behind the route's content-type rule: a
// route with a body takes only its types; a bodyless route that changes
// state refuses the form types; a route whose body is optional is served
// as bodyless without a body, and takes only its types with one. A refusal
// is 415 naming what is accepted.
func checkContentType(method string, rule bodyRule, next http.Handler) http.Handler {
	if rule.types == nil && (method == http.MethodGet || method == http.MethodHead) {
		return next
	}
	want := "must be " + strings.Join(rule.types, " or ")
	switch {
	case rule.types == nil:
		want = "must be none or application/json (this operation takes no body; the types of HTML forms are refused)"
	case rule.optional:
		want = "must be " + strings.Join(rule.types, " or ") + " with a body, or none without one (the types of HTML forms are refused)"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := r.Header.Get("Content-Type")
		mt, _, err := mime.ParseMediaType(raw)
		bodyless := rule.types == nil || rule.optional && !hasBody(r)

		var ok bool
		switch {
		case !bodyless:
			ok = err == nil && slices.Contains(rule.types, mt)
		case raw == "":
			ok = true
		default:
			ok = err == nil && !slices.Contains(formTypes, mt)
		}
		if !ok {
			got := "none"
			if raw != "" {
				got = fmt.Sprintf("%q", raw)
			}
			writeError(w, http.StatusUnsupportedMediaType, "Content-Type: "+want+", got "+got)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hasBody reports whether a request has a body of at least one byte. A
// body of unknown length (chunked) is peeked at, and r.Body then reads
// from the peeked start.
func hasBody(r *http.Request) bool {
	if r.ContentLength >= 0 {
		return r.ContentLength > 0
	}
	br := bufio.NewReader(r.Body)
	_, err := br.Peek(1)
	r.Body = struct {
		io.Reader
		io.Closer
	}{br, r.Body}
	return err == nil
}

// RequireScope serves next only to a request whose token, looked up in
// tokens, has scope; otherwise it answers as the API does: 401 with the
// Bearer and Basic challenges for no token or an unknown one, 403 naming
// the scope for one that lacks it. It is for listeners outside the API's
// Handler — the worker's metrics listener under FLEXLABEL_METRICS_AUTH.
func RequireScope(tokens *auth.Set, scope auth.Scope, next http.Handler) http.Handler {
	lacks := "this token lacks scope " + string(scope)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := credential(r)
		var p auth.Principal
		if ok {
			p, ok = tokens.Lookup(tok)
		}
		if !ok {
			w.Header().Add("WWW-Authenticate", `Bearer realm="flexlabel"`)
			w.Header().Add("WWW-Authenticate", `Basic realm="flexlabel", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		if !p.Has(scope) {
			writeError(w, http.StatusForbidden, lacks)
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
	})
}
