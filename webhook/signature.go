package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the HTTP header that carries the signature.
const SignatureHeader = "Flexlabel-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock, either way, before Verify refuses it (Stripe's default).
const DefaultTolerance = 5 * time.Minute

// MaxBodyBytes is the largest body VerifyRequest reads. An event is a label
// object of a few kilobytes; anything near this is not from flexlabel.
const MaxBodyBytes = 1 << 20

// SecretPrefix starts every secret NewSecret makes.
const SecretPrefix = "whsec_"

// The problems Verify and VerifyRequest report; match them with errors.Is.
// Only ErrTooOld and ErrTooNew come from a signature that matched: check the
// receiver's clock. The others mean the request is not an authentic delivery
// (or the receiver holds the wrong secret) and should be answered 400 or 401.
var (
	ErrNoSignature = errors.New("webhook: no " + SignatureHeader + " header")
	ErrMalformed   = errors.New("webhook: malformed " + SignatureHeader + " header")
	ErrNoMatch     = errors.New("webhook: no signature matches the secret")
	ErrTooOld      = errors.New("webhook: signature timestamp is older than the tolerance")
	ErrTooNew      = errors.New("webhook: signature timestamp is further in the future than the tolerance")
	ErrNoSecret    = errors.New("webhook: secret is empty")
	ErrBodyTooBig  = errors.New("webhook: body is larger than MaxBodyBytes")
)

// NewSecret returns a new endpoint signing secret: SecretPrefix and 32
// random bytes in unpadded base64url. The whole string, prefix included, is
// the HMAC key.
func NewSecret() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it since Go 1.24)
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// Sign returns the SignatureHeader value for body sent at t: the timestamp
// in Unix seconds and one v1 digest per secret, in order (two during a
// rotation). It panics without a secret or with an empty one, since either
// would send a delivery nobody can authenticate.
func Sign(body []byte, t time.Time, secrets ...string) string {
	if len(secrets) == 0 {
		panic("webhook: Sign needs at least one secret")
	}
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		if s == "" {
			panic("webhook: Sign with an empty secret")
		}
		b.WriteString(",v1=")
		b.WriteString(hex.EncodeToString(digest(s, ts, body)))
	}
	return b.String()
}

func digest(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks header (the SignatureHeader value) against body, exactly as
// received, and secret. It succeeds when one of the header's v1 digests
// matches and the timestamp is within tolerance of now, either way; a
// tolerance of 0 or less means DefaultTolerance. The signature is checked
// before the timestamp, so ErrTooOld and ErrTooNew are only reported for a
// delivery that is otherwise authentic. Digests are compared in constant
// time. Entries other than t and v1 are ignored, leaving room for new
// schemes.
func Verify(header string, body []byte, secret string, tolerance time.Duration, now time.Time) error {
	if secret == "" {
		return ErrNoSecret
	}
	if strings.TrimSpace(header) == "" {
		return ErrNoSignature
	}
	ts, sigs, err := parseHeader(header)
	if err != nil {
		return err
	}
	want := digest(secret, ts, body)
	match := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			match = true
		}
	}
	if !match {
		return ErrNoMatch
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, _ := strconv.ParseInt(ts, 10, 64) // parseHeader checked it
	t := time.Unix(sec, 0)
	switch {
	case now.Sub(t) > tolerance:
		return fmt.Errorf("%w (%s, signed %s ago)", ErrTooOld, tolerance, now.Sub(t).Truncate(time.Second))
	case t.Sub(now) > tolerance:
		return fmt.Errorf("%w (%s, signed %s ahead)", ErrTooNew, tolerance, t.Sub(now).Truncate(time.Second))
	}
	return nil
}

// parseHeader splits "t=…,v1=…[,v1=…]" into the timestamp as sent and the
// decoded digests.
func parseHeader(header string) (ts string, sigs [][]byte, err error) {
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return "", nil, fmt.Errorf("%w: %q is not key=value", ErrMalformed, part)
		}
		switch k {
		case "t":
			if ts != "" {
				return "", nil, fmt.Errorf("%w: more than one t", ErrMalformed)
			}
			if !isUnixSeconds(v) {
				return "", nil, fmt.Errorf("%w: t=%q is not Unix seconds", ErrMalformed, v)
			}
			ts = v
		case "v1":
			d, err := hex.DecodeString(v)
			if err != nil || len(d) != sha256.Size {
				return "", nil, fmt.Errorf("%w: a v1 is not %d hex digits", ErrMalformed, 2*sha256.Size)
			}
			sigs = append(sigs, d)
		}
	}
	if ts == "" {
		return "", nil, fmt.Errorf("%w: no t", ErrMalformed)
	}
	if len(sigs) == 0 {
		return "", nil, fmt.Errorf("%w: no v1", ErrMalformed)
	}
	return ts, sigs, nil
}

func isUnixSeconds(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// VerifyRequest reads r's body (at most MaxBodyBytes) and verifies it with
// Verify against the SignatureHeader, secret, tolerance and the current
// time. It returns the body, which the caller then decodes as an Event;
// the body is consumed, so read it from the result, not from r.
func VerifyRequest(r *http.Request, secret string, tolerance time.Duration) ([]byte, error) {
	if secret == "" {
		return nil, ErrNoSecret
	}
	header := r.Header.Get(SignatureHeader)
	if header == "" {
		return nil, ErrNoSignature
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("webhook: reading the body: %w", err)
	}
	if len(body) > MaxBodyBytes {
		return nil, ErrBodyTooBig
	}
	if err := Verify(header, body, secret, tolerance, time.Now()); err != nil {
		return nil, err
	}
	return body, nil
}
