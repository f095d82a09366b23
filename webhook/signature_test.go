package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/webhook"
)

const secret = "whsec_test-secret"

var (
	body = []byte(`{"id":"evt_1","type":"label.completed","createdAt":"2026-12-02T13:00:00Z","apiVersion":"v1","sequence":1,"data":{}}`)
	sent = time.Unix(1_800_000_000, 0)
)

// The header is computed the way docs/WEBHOOKS.md tells other languages to:
// hex HMAC-SHA256 of "TIMESTAMP.BODY", the secret string as the key.
func TestSign_MatchesTheDocumentedScheme(t *testing.T) {
	t.Parallel()
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("1800000000." + string(body)))
	require.Equal(t, "t=1800000000,v1="+hex.EncodeToString(m.Sum(nil)), webhook.Sign(body, sent, secret))
}

func TestVerify_RoundTrip(t *testing.T) {
	t.Parallel()
	require.NoError(t, webhook.Verify(webhook.Sign(body, sent, secret), body, secret, 0, sent))
}

func TestVerify_TamperedBody_NoMatch(t *testing.T) {
	t.Parallel()
	h := webhook.Sign(body, sent, secret)
	tampered := bytes.Replace(body, []byte(`"sequence":1`), []byte(`"sequence":2`), 1)
	require.ErrorIs(t, webhook.Verify(h, tampered, secret, 0, sent), webhook.ErrNoMatch)
	// The timestamp is signed too: moving it forward breaks the signature.
	moved := strings.Replace(h, "t=1800000000", "t=1800000300", 1)
	require.ErrorIs(t, webhook.Verify(moved, body, secret, 0, sent), webhook.ErrNoMatch)
}

func TestVerify_WrongSecret_NoMatch(t *testing.T) {
	t.Parallel()
	h := webhook.Sign(body, sent, secret)
	require.ErrorIs(t, webhook.Verify(h, body, "whsec_other", 0, sent), webhook.ErrNoMatch)
}

// An empty secret would let anyone sign (HMAC with an empty key is public).
func TestVerify_EmptySecret_Refused(t *testing.T) {
	t.Parallel()
	m := hmac.New(sha256.New, nil)
	m.Write([]byte("1800000000." + string(body)))
	h := "t=1800000000,v1=" + hex.EncodeToString(m.Sum(nil))
	require.ErrorIs(t, webhook.Verify(h, body, "", 0, sent), webhook.ErrNoSecret)
}

// During a rotation the header carries one v1 per secret; a receiver holding
// either the old or the new one verifies, and one holding neither does not.
func TestVerify_Rotation_EitherSecretVerifies(t *testing.T) {
	t.Parallel()
	h := webhook.Sign(body, sent, "whsec_old", "whsec_new")
	require.Equal(t, 2, strings.Count(h, ",v1="), h)
	require.NoError(t, webhook.Verify(h, body, "whsec_old", 0, sent))
	require.NoError(t, webhook.Verify(h, body, "whsec_new", 0, sent))
	require.ErrorIs(t, webhook.Verify(h, body, "whsec_gone", 0, sent), webhook.ErrNoMatch)
}

func TestVerify_Tolerance_BothSides(t *testing.T) {
	t.Parallel()
	h := webhook.Sign(body, sent, secret)
	for _, c := range []struct {
		name      string
		now       time.Time
		tolerance time.Duration
		want      error
	}{
		{"default, just inside, late", sent.Add(webhook.DefaultTolerance), 0, nil},
		{"default, just inside, early", sent.Add(-webhook.DefaultTolerance), 0, nil},
		{"default, too old", sent.Add(webhook.DefaultTolerance + time.Second), 0, webhook.ErrTooOld},
		{"default, too far ahead", sent.Add(-webhook.DefaultTolerance - time.Second), 0, webhook.ErrTooNew},
		{"own tolerance, too old", sent.Add(31 * time.Second), 30 * time.Second, webhook.ErrTooOld},
		{"own tolerance, too far ahead", sent.Add(-31 * time.Second), 30 * time.Second, webhook.ErrTooNew},
		{"own tolerance, inside", sent.Add(29 * time.Second), 30 * time.Second, nil},
	} {
		err := webhook.Verify(h, body, secret, c.tolerance, c.now)
		if c.want == nil {
			require.NoError(t, err, c.name)
		} else {
			require.ErrorIs(t, err, c.want, c.name)
		}
	}
}

// A stale header with the wrong secret is reported as not matching: the
// timestamp says nothing until the signature is known to be ours.
func TestVerify_StaleAndWrongSecret_NoMatchFirst(t *testing.T) {
	t.Parallel()
	h := webhook.Sign(body, sent, secret)
	require.ErrorIs(t, webhook.Verify(h, body, "whsec_other", 0, sent.Add(time.Hour)), webhook.ErrNoMatch)
}

func TestVerify_MalformedHeaders(t *testing.T) {
	t.Parallel()
	good := webhook.Sign(body, sent, secret)
	v1 := good[strings.Index(good, "v1="):]
	for header, want := range map[string]error{
		"":                                  webhook.ErrNoSignature,
		"   ":                               webhook.ErrNoSignature,
		"garbage":                           webhook.ErrMalformed,
		v1:                                  webhook.ErrMalformed, // no t
		"t=1800000000":                      webhook.ErrMalformed, // no v1
		"t=1800000000,v0=abc":               webhook.ErrMalformed, // only unknown schemes
		"t=," + v1:                          webhook.ErrMalformed,
		"t=-1800000000," + v1:               webhook.ErrMalformed,
		"t=+1800000000," + v1:               webhook.ErrMalformed,
		"t=1.8e9," + v1:                     webhook.ErrMalformed,
		"t=99999999999999999999999," + v1:   webhook.ErrMalformed,
		"t=1800000000,t=1800000000," + v1:   webhook.ErrMalformed,
		"t=1800000000,v1=zz":                webhook.ErrMalformed,
		"t=1800000000,v1=abcd":              webhook.ErrMalformed, // too short for SHA-256
		"t=1800000000," + v1 + ",v1=nothex": webhook.ErrMalformed,
		"t=1800000000;" + v1:                webhook.ErrMalformed,
	} {
		require.ErrorIs(t, webhook.Verify(header, body, secret, 0, sent), want, "header %q", header)
	}
	// Tolerated: spaces after commas, and schemes this version does not know.
	require.NoError(t, webhook.Verify(strings.ReplaceAll(good, ",", ", "), body, secret, 0, sent))
	require.NoError(t, webhook.Verify(good+",v2=future", body, secret, 0, sent))
}

func TestNewSecret_PrefixedRandom(t *testing.T) {
	t.Parallel()
	a, b := webhook.NewSecret(), webhook.NewSecret()
	require.True(t, strings.HasPrefix(a, webhook.SecretPrefix), a)
	require.Len(t, a, len(webhook.SecretPrefix)+43) // 32 bytes, unpadded base64url
	require.NotEqual(t, a, b)
	require.NoError(t, webhook.Verify(webhook.Sign(body, sent, a), body, a, 0, sent))
}

func TestSign_NoSecret_Panics(t *testing.T) {
	t.Parallel()
	require.Panics(t, func() { webhook.Sign(body, sent) })
	require.Panics(t, func() { webhook.Sign(body, sent, secret, "") })
}

func signedRequest(t *testing.T, b []byte, header string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/hooks/flexlabel", bytes.NewReader(b))
	if header != "" {
		r.Header.Set(webhook.SignatureHeader, header)
	}
	return r
}

func TestVerifyRequest(t *testing.T) {
	t.Parallel()
	now := time.Now()
	got, err := webhook.VerifyRequest(signedRequest(t, body, webhook.Sign(body, now, secret)), secret, 0)
	require.NoError(t, err)
	require.Equal(t, body, got)

	_, err = webhook.VerifyRequest(signedRequest(t, body, ""), secret, 0)
	require.ErrorIs(t, err, webhook.ErrNoSignature)

	_, err = webhook.VerifyRequest(signedRequest(t, body, webhook.Sign(body, now.Add(-time.Hour), secret)), secret, 0)
	require.ErrorIs(t, err, webhook.ErrTooOld)

	_, err = webhook.VerifyRequest(signedRequest(t, body, webhook.Sign(body, now, secret)), "", 0)
	require.ErrorIs(t, err, webhook.ErrNoSecret)

	big := bytes.Repeat([]byte("x"), webhook.MaxBodyBytes+1)
	_, err = webhook.VerifyRequest(signedRequest(t, big, webhook.Sign(big, now, secret)), secret, 0)
	require.ErrorIs(t, err, webhook.ErrBodyTooBig)

	exact := bytes.Repeat([]byte("x"), webhook.MaxBodyBytes)
	_, err = webhook.VerifyRequest(signedRequest(t, exact, webhook.Sign(exact, now, secret)), secret, 0)
	require.NoError(t, err)
}

func TestSign_TimestampIsUnixSeconds(t *testing.T) {
	t.Parallel()
	h := webhook.Sign(body, sent.Add(999*time.Millisecond), secret)
	require.True(t, strings.HasPrefix(h, "t="+strconv.FormatInt(sent.Unix(), 10)+","), h)
}

// docs/WEBHOOKS.md gives other languages a test vector; it must be what
// Sign produces.
func TestSign_DocsTestVector(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/WEBHOOKS.md")
	require.NoError(t, err)
	require.Contains(t, string(doc), "secret `whsec_example`, `t` `1800000000`, body `{\"id\":\"evt_1\"}`")
	require.Contains(t, string(doc), "Flexlabel-Signature: "+webhook.Sign([]byte(`{"id":"evt_1"}`), time.Unix(1_800_000_000, 0), "whsec_example")+"\n")
}
