package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/internal/auth"
	"github.com/flexlabel/flexlabel/internal/hooks"
	"github.com/flexlabel/flexlabel/internal/httpapi"
	"github.com/flexlabel/flexlabel/webhook"
)

const webhookSigningKey = "httpapi-test-signing-key-0123456789abcdef"

// webhookEnv serves the API with webhook endpoints on e's namespace, and a
// token of each scope (scopedEnv's).
func webhookEnv(t *testing.T) (*env, *hooks.Endpoints) {
	t.Helper()
	var eps *hooks.Endpoints
	set, err := auth.NewSet([]auth.Token{
		{Scope: auth.All, Secret: token},
		{Scope: auth.Operator, Secret: operatorToken},
		{Scope: auth.Viewer, Secret: viewerToken},
		{Scope: auth.Producer, Secret: producerToken},
	})
	require.NoError(t, err)
	e := newEnv(t, func(c *httpapi.Config) {
		keys, err := hooks.NewKeyring(webhookSigningKey)
		require.NoError(t, err)
		eps, err = hooks.NewEndpoints(c.Queue.Redis(), c.Queue.Options().Namespace, keys)
		require.NoError(t, err)
		c.Endpoints = eps
		c.Tokens, c.TokenSet = nil, set
	})
	return e, eps
}

// endpointJSON is an endpoint as the API answers it.
type endpointJSON struct {
	ID                      string     `json:"id"`
	URL                     string     `json:"url"`
	Events                  []string   `json:"events"`
	KeyPrefix               string     `json:"keyPrefix"`
	Accounts                []string   `json:"accounts"`
	Enabled                 bool       `json:"enabled"`
	DisabledReason          string     `json:"disabledReason"`
	CreatedAt               time.Time  `json:"createdAt"`
	UpdatedAt               time.Time  `json:"updatedAt"`
	Secret                  string     `json:"secret"`
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt"`
}

func (e *env) send(method, path, body string) *response {
	e.t.Helper()
	var r *response
	if body == "" {
		r = e.do(method, path, nil)
	} else {
		r = e.do(method, path, strings.NewReader(body), "Content-Type", "application/json")
	}
	return r
}

func (e *env) endpoint(r *response, code int) endpointJSON {
	e.t.Helper()
	require.Equal(e.t, code, r.code, "%s", r.body)
	var ep endpointJSON
	r.json(e.t, &ep)
	return ep
}

func TestWebhookEndpoints_Lifecycle(t *testing.T) {
	t.Parallel()
	e, eps := webhookEnv(t)
	r := e.send("POST", "/v1/webhook-endpoints", `{"url":"https://orders.example.com/hook","events":["label.completed","label.dead"],"keyPrefix":"shop-a-"}`)
	created := e.endpoint(r, http.StatusCreated)
	require.Regexp(t, `^we_`, created.ID)
	require.Equal(t, "webhook-endpoints/"+created.ID, r.header.Get("Location"))
	require.True(t, strings.HasPrefix(created.Secret, webhook.SecretPrefix))
	require.Equal(t, []string{"label.completed", "label.dead"}, created.Events)
	require.Equal(t, "shop-a-", created.KeyPrefix)
	require.True(t, created.Enabled)
	// The secret shown is the one deliveries are signed with.
	tg, err := eps.Target(context.Background(), created.ID)
	require.NoError(t, err)
	require.Equal(t, []string{created.Secret}, tg.Secrets)

	// events and keyPrefix are optional.
	all := e.endpoint(e.send("POST", "/v1/webhook-endpoints", `{"url":"http://localhost:9/x"}`), http.StatusCreated)
	require.Equal(t, []string{}, all.Events)
	require.Equal(t, "", all.KeyPrefix)

	r = e.send("GET", "/v1/webhook-endpoints", "")
	require.Equal(t, http.StatusOK, r.code, "%s", r.body)
	require.NotContains(t, string(r.body), "secret")
	require.NotContains(t, string(r.body), created.Secret)
	var list struct{ Endpoints []endpointJSON }
	r.json(t, &list)
	require.Len(t, list.Endpoints, 2)
	require.Equal(t, created.ID, list.Endpoints[0].ID)

	got := e.endpoint(e.send("GET", "/v1/webhook-endpoints/"+created.ID, ""), http.StatusOK)
	require.Empty(t, got.Secret)
	require.Equal(t, created.URL, got.URL)

	got = e.endpoint(e.send("PATCH", "/v1/webhook-endpoints/"+created.ID, `{"url":"https://orders.example.com/v2","events":[],"keyPrefix":""}`), http.StatusOK)
	require.Equal(t, "https://orders.example.com/v2", got.URL)
	require.Equal(t, []string{}, got.Events)
	require.Empty(t, got.Secret)

	got = e.endpoint(e.send("POST", "/v1/webhook-endpoints/"+created.ID+"/disable", `{"reason":"receiver moving"}`), http.StatusOK)
	require.False(t, got.Enabled)
	require.Equal(t, "receiver moving", got.DisabledReason)
	got = e.endpoint(e.send("PATCH", "/v1/webhook-endpoints/"+created.ID, `{"enabled":true}`), http.StatusOK)
	require.True(t, got.Enabled)
	require.Empty(t, got.DisabledReason)
	got = e.endpoint(e.send("POST", "/v1/webhook-endpoints/"+created.ID+"/disable", ""), http.StatusOK)
	require.Equal(t, hooks.DisabledByOperator, got.DisabledReason, "the body is optional")
	got = e.endpoint(e.send("PATCH", "/v1/webhook-endpoints/"+created.ID, `{"enabled":false}`), http.StatusOK)
	require.False(t, got.Enabled)

	rot := e.endpoint(e.send("POST", "/v1/webhook-endpoints/"+created.ID+"/rotate-secret", ""), http.StatusOK)
	require.True(t, strings.HasPrefix(rot.Secret, webhook.SecretPrefix))
	require.NotEqual(t, created.Secret, rot.Secret)
	require.NotNil(t, rot.PreviousSecretExpiresAt)
	require.WithinDuration(t, time.Now().Add(24*time.Hour), *rot.PreviousSecretExpiresAt, time.Minute)
	tg, err = eps.Target(context.Background(), created.ID)
	require.NoError(t, err)
	require.Equal(t, []string{rot.Secret, created.Secret}, tg.Secrets)
	rot2 := e.endpoint(e.send("POST", "/v1/webhook-endpoints/"+created.ID+"/rotate-secret", `{"keepPreviousFor":"0s"}`), http.StatusOK)
	require.Nil(t, rot2.PreviousSecretExpiresAt)
	tg, err = eps.Target(context.Background(), created.ID)
	require.NoError(t, err)
	require.Equal(t, []string{rot2.Secret}, tg.Secrets)

	r = e.send("DELETE", "/v1/webhook-endpoints/"+created.ID, "")
	require.Equal(t, http.StatusNoContent, r.code, "%s", r.body)
	require.Empty(t, r.body)
	for _, c := range [][3]string{
		{"GET", "", ""}, {"DELETE", "", ""}, {"PATCH", "", `{"enabled":true}`},
		{"POST", "/disable", ""}, {"POST", "/rotate-secret", ""},
	} {
		r = e.send(c[0], "/v1/webhook-endpoints/"+created.ID+c[1], c[2])
		require.Equal(t, http.StatusNotFound, r.code, "%v: %s", c, r.body)
		require.Equal(t, "no webhook endpoint has this id", r.errorMessage(t))
	}

	// No secret in the request log.
	for _, s := range []string{created.Secret, rot.Secret, rot2.Secret, all.Secret, webhookSigningKey} {
		require.NotContains(t, e.logs.String(), s)
	}
}

// accounts is optional (absent: every account); given, it is shown and
// matched, and replaced by a PATCH ([] for every account again).
func TestWebhookEndpoints_Accounts(t *testing.T) {
	t.Parallel()
	e, eps := webhookEnv(t)
	ctx := context.Background()
	r := e.send("POST", "/v1/webhook-endpoints", `{"url":"https://orders.example.com/a","keyPrefix":"shop-","accounts":["brand-a","brand-a","default"]}`)
	created := e.endpoint(r, http.StatusCreated)
	require.Equal(t, []string{"brand-a", "default"}, created.Accounts)
	got := e.endpoint(e.send("GET", "/v1/webhook-endpoints/"+created.ID, ""), http.StatusOK)
	require.Equal(t, []string{"brand-a", "default"}, got.Accounts)
	match := func(account, key string) int {
		ts, err := eps.Matching(ctx, webhook.LabelCompleted, account, key)
		require.NoError(t, err)
		return len(ts)
	}
	require.Equal(t, 1, match("brand-a", "shop-1"))
	require.Equal(t, 0, match("brand-b", "shop-1"))
	require.Equal(t, 0, match("brand-a", "other"), "keyPrefix applies within the accounts")

	r = e.send("PATCH", "/v1/webhook-endpoints/"+created.ID, `{"accounts":[]}`)
	got = e.endpoint(r, http.StatusOK)
	require.Nil(t, got.Accounts)
	require.NotContains(t, string(r.body), `"accounts"`, "absent for every account")
	require.Equal(t, 1, match("brand-b", "shop-1"))
	got = e.endpoint(e.send("PATCH", "/v1/webhook-endpoints/"+created.ID, `{"accounts":["brand-b"]}`), http.StatusOK)
	require.Equal(t, []string{"brand-b"}, got.Accounts)

	r = e.send("POST", "/v1/webhook-endpoints", `{"url":"https://orders.example.com/a","accounts":["Brand A"]}`)
	require.Equal(t, http.StatusBadRequest, r.code, "%s", r.body)
	require.Contains(t, string(r.body), `"field":"accounts[0]"`)
	r = e.send("POST", "/v1/webhook-endpoints", `{"url":"https://orders.example.com/a","accounts":"brand-a"}`)
	require.Equal(t, http.StatusBadRequest, r.code, "%s", r.body)
	require.Equal(t, "accounts: must be an array, got string", r.errorMessage(t))
	list, err := eps.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1, "nothing written for a refused body")
}

func TestWebhookEndpoints_BadFields_EachNamed_NothingWritten(t *testing.T) {
	t.Parallel()
	e, eps := webhookEnv(t)
	type fieldErrs struct {
		Error   string
		Details []struct{ Field, Message string }
	}
	fields := func(r *response) []string {
		t.Helper()
		require.Equal(t, http.StatusBadRequest, r.code, "%s", r.body)
		var fe fieldErrs
		r.json(t, &fe)
		var out []string
		for _, d := range fe.Details {
			out = append(out, d.Field)
		}
		return out
	}
	r := e.send("POST", "/v1/webhook-endpoints", `{"url":"http://orders.example.com/","events":["label.dead","label.exploded"],"keyPrefix":"`+strings.Repeat("k", 256)+`"}`)
	require.Equal(t, []string{"url", "events[1]", "keyPrefix"}, fields(r))
	require.Contains(t, string(r.body), `events[1]: unknown event type \"label.exploded\"`)
	require.Equal(t, []string{"url"}, fields(e.send("POST", "/v1/webhook-endpoints", `{"url":"https://192.168.1.10/hook"}`)))
	require.Equal(t, []string{"url"}, fields(e.send("POST", "/v1/webhook-endpoints", `{"events":["label.dead"]}`)))

	for body, want := range map[string]string{
		`{"url":5}`:                          "url: must be a string, got number",
		`{"url":"https://a.example/","x":1}`: "x: unknown field",
		`{"url":"https://a.example/","events":"label.dead"}`: "events: must be an array, got string",
		`[1]`:  "body: must be one JSON object",
		`{"u"`: "body: must be one JSON object",
		` `:    "body: is empty",
	} {
		r := e.send("POST", "/v1/webhook-endpoints", body)
		require.Equal(t, http.StatusBadRequest, r.code, "%s: %s", body, r.body)
		require.Contains(t, r.errorMessage(t), want, body)
	}
	list, err := eps.List(context.Background())
	require.NoError(t, err)
	require.Empty(t, list, "nothing written")
	require.Zero(t, e.keys())

	ep := e.endpoint(e.send("POST", "/v1/webhook-endpoints", `{"url":"https://a.example.com/"}`), http.StatusCreated)
	path := "/v1/webhook-endpoints/" + ep.ID
	require.Equal(t, []string{"url", "events[0]"}, fields(e.send("PATCH", path, `{"url":"ftp://x/","events":["nope"]}`)))
	require.Equal(t, []string{"body"}, fields(e.send("PATCH", path, `{}`)))
	r = e.send("PATCH", path, `{"enabled":"yes"}`)
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Equal(t, `enabled: must be true or false, got string`, r.errorMessage(t))
	r = e.send("PATCH", path, `{"secret":"whsec_mine"}`)
	require.Equal(t, http.StatusBadRequest, r.code)
	require.Equal(t, "secret: unknown field", r.errorMessage(t))
	require.Equal(t, []string{"reason"}, fields(e.send("POST", path+"/disable", `{"reason":"`+strings.Repeat("r", 501)+`"}`)))
	require.Equal(t, []string{"keepPreviousFor"}, fields(e.send("POST", path+"/rotate-secret", `{"keepPreviousFor":"a day"}`)))
	require.Equal(t, []string{"keepPreviousFor"}, fields(e.send("POST", path+"/rotate-secret", `{"keepPreviousFor":"200h"}`)))
	got, err := eps.Get(context.Background(), ep.ID)
	require.NoError(t, err)
	require.Equal(t, "https://a.example.com/", got.URL)
	require.True(t, got.Enabled)
	require.Nil(t, got.PreviousSecretExpiresAt, "no refused rotation happened")

	// A form's content type is refused before anything is read.
	r = e.do("POST", "/v1/webhook-endpoints", strings.NewReader(`{"url":"https://b.example.com/"}`), "Content-Type", "text/plain")
	require.Equal(t, http.StatusUnsupportedMediaType, r.code)
	r = e.do("POST", path+"/rotate-secret", nil, "Content-Type", "application/x-www-form-urlencoded")
	require.Equal(t, http.StatusUnsupportedMediaType, r.code)
	r = e.do("DELETE", path, nil, "Content-Type", "text/plain")
	require.Equal(t, http.StatusUnsupportedMediaType, r.code)
	_, err = eps.Get(context.Background(), ep.ID)
	require.NoError(t, err)
}

func TestWebhookEndpoints_OperatorScopeOnly(t *testing.T) {
	t.Parallel()
	e, _ := webhookEnv(t)
	for _, tok := range []string{viewerToken, producerToken} {
		r := e.do("GET", "/v1/webhook-endpoints", nil, "Authorization", "Bearer "+tok)
		require.Equal(t, http.StatusForbidden, r.code)
		require.Equal(t, "this token lacks scope operator", r.errorMessage(t))
		r = e.do("POST", "/v1/webhook-endpoints", strings.NewReader(`{"url":"https://a.example.com/"}`), "Authorization", "Bearer "+tok, "Content-Type", "application/json")
		require.Equal(t, http.StatusForbidden, r.code)
	}
	require.Zero(t, e.keys())
	r := e.do("POST", "/v1/webhook-endpoints", strings.NewReader(`{"url":"https://a.example.com/"}`), "Authorization", "Bearer "+operatorToken, "Content-Type", "application/json")
	require.Equal(t, http.StatusCreated, r.code, "%s", r.body)
}

func TestWebhookEndpoints_WithoutSigningKey_409NamingIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, c := range [][3]string{
		{"POST", "/v1/webhook-endpoints", `{"url":"https://a.example.com/"}`},
		{"GET", "/v1/webhook-endpoints", ""},
		{"GET", "/v1/webhook-endpoints/we_X", ""},
		{"PATCH", "/v1/webhook-endpoints/we_X", `{"enabled":true}`},
		{"DELETE", "/v1/webhook-endpoints/we_X", ""},
		{"POST", "/v1/webhook-endpoints/we_X/disable", ""},
		{"POST", "/v1/webhook-endpoints/we_X/rotate-secret", ""},
	} {
		r := e.send(c[0], c[1], c[2])
		require.Equal(t, http.StatusConflict, r.code, "%v: %s", c, r.body)
		require.Contains(t, r.errorMessage(t), "FLEXLABEL_WEBHOOK_SIGNING_KEY", c)
	}
	require.Zero(t, e.keys())
}

// The schema of a created endpoint requires the secret, and the schema of
// a listed one forbids it: the contract layer holds every answer to that.
func TestWebhookEndpoints_DocumentSeparatesSecretFromListing(t *testing.T) {
	t.Parallel()
	doc, _ := contract(t)
	listed := doc.Components.Schemas["WebhookEndpoint"].Value
	require.NotContains(t, listed.Properties, "secret")
	require.NotNil(t, listed.AdditionalProperties.Has)
	require.False(t, *listed.AdditionalProperties.Has)
	created := doc.Components.Schemas["WebhookEndpointWithSecret"].Value
	require.Contains(t, created.Required, "secret")
	for name := range listed.Properties {
		require.Contains(t, created.Properties, name, "the merge key copied %s", name)
	}
	b, err := json.Marshal(map[string]any{"id": "we_X", "url": "https://a/", "events": []string{}, "keyPrefix": "", "enabled": true,
		"createdAt": "2026-12-02T12:00:00Z", "updatedAt": "2026-12-02T12:00:00Z", "secret": "whsec_x"})
	require.NoError(t, err)
	var v any
	require.NoError(t, json.Unmarshal(b, &v))
	require.Error(t, listed.VisitJSON(v), "a listed endpoint with a secret is not one")
}
