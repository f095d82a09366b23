package hooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/flexlabel/flexlabel/webhook"
)

// MinSigningKey is the shortest signing key NewKeyring takes, in bytes: an
// HMAC-SHA256 key should be as long as the hash.
const MinSigningKey = 32

// ErrNoSigningKey is what NewKeyring says of an empty key: webhooks are
// off. Front ends name FLEXLABEL_WEBHOOK_SIGNING_KEY when they see it.
var ErrNoSigningKey = errors.New("hooks: no webhook signing key")

// Keyring derives endpoint signing secrets from one signing key
// (FLEXLABEL_WEBHOOK_SIGNING_KEY), so that no secret is ever stored: Redis
// keeps an endpoint's generation, and the secret of a generation is
//
//	"whsec_" + base64url(HMAC-SHA256(key, "flexlabel/webhook/v1/" + endpointID + "/" + generation))
//
// Every process holding the key (serve, the CLI, the worker) derives the
// same secrets. Changing the key changes every secret; rotate-secret changes
// one. A Keyring prints as [redacted] under fmt and slog.
type Keyring struct {
	key []byte
}

// NewKeyring returns the keyring of signingKey, which must be at least
// MinSigningKey bytes; an empty one is ErrNoSigningKey. Neither error
// shows the key.
func NewKeyring(signingKey string) (Keyring, error) {
	switch {
	case signingKey == "":
		return Keyring{}, ErrNoSigningKey
	case len(signingKey) < MinSigningKey:
		return Keyring{}, fmt.Errorf("hooks: the webhook signing key must be at least %d bytes, got %d", MinSigningKey, len(signingKey))
	}
	return Keyring{key: []byte(signingKey)}, nil
}

// Secret returns the signing secret of endpointID's generation gen. It
// panics on a Keyring not made by NewKeyring, which would derive secrets
// anyone could compute.
func (k Keyring) Secret(endpointID string, gen int64) string {
	if len(k.key) == 0 {
		panic("hooks: Keyring not made by NewKeyring")
	}
	m := hmac.New(sha256.New, k.key)
	_, _ = io.WriteString(m, "flexlabel/webhook/v1/"+endpointID+"/"+strconv.FormatInt(gen, 10))
	return webhook.SecretPrefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// String redacts the key.
func (k Keyring) String() string { return "hooks.Keyring[redacted]" }

// GoString redacts the key under %#v.
func (k Keyring) GoString() string { return k.String() }

// Format redacts the key under every verb.
func (k Keyring) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue redacts the key in slog.
func (k Keyring) LogValue() slog.Value { return slog.StringValue(k.String()) }
