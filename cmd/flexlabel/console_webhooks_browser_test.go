package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/internal/hooks"
)

// TestBrowser_ConsoleWebhooks drives the console's webhook pages in a real
// headless Chromium: serve and the worker with a signing key, a receiver
// that refuses every event with 422, a label that dies. The operator finds
// the endpoint on /ui/webhooks, opens it, reads the failed delivery (key,
// status, the receiver's answer), and disables the endpoint through the
// confirm page; the endpoint is disabled only after the confirmation, and
// the list shows why. No page shows the endpoint's secret.
func TestBrowser_ConsoleWebhooks(t *testing.T) {
	b := newBrowser(t)
	var arrived atomic.Int64
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		http.Error(w, "unknown order", http.StatusUnprocessableEntity)
	}))
	t.Cleanup(rcv.Close)
	c, eps := webhookCLI(t)
	ctx := context.Background()
	ep, err := eps.Create(ctx, hooks.Spec{URL: rcv.URL + "/hook"})
	require.NoError(t, err)
	c.startWorker(t)
	con := startConsole(t, c, "operator "+browserOperatorToken)

	const key = "brw-rej-1"
	enqueue(t, c, key, flexapitest.RejectProductCode)
	c.waitState(t, key, "dead")
	require.Eventually(t, func() bool { return arrived.Load() > 0 }, browserStep, 20*time.Millisecond, "the label.dead event reached the receiver")
	require.Eventually(t, func() bool {
		r := c.run(t, "", "webhooks", "deliveries", "--endpoint", ep.ID)
		return r.code == 0 && strings.Contains(r.stdout, "failed")
	}, browserStep, 20*time.Millisecond, "the delivery log has the failure")

	op := b.login(t, "operator", browserOperatorToken)
	op.open(con.url("/ui/"))
	op.click(`header a[href="/ui/webhooks"]`)
	op.requireCount(1, `tr[data-endpoint="`+ep.ID+`"]`, "the endpoint is listed")
	require.NotContains(t, op.bodyText(), ep.Secret)
	op.screenshot("webhooks")

	op.click(`a[href="/ui/webhooks/endpoint?id=` + ep.ID + `"]`)
	row := op.text(`#deliveries tbody tr`)
	require.Contains(t, row, key)
	require.Contains(t, row, "failed")
	require.Contains(t, row, "422")
	require.Contains(t, row, "unknown order", "the receiver's answer")
	require.NotContains(t, op.bodyText(), ep.Secret)
	op.screenshot("webhook-endpoint")

	op.typeInto(`form[data-action="webhook-disable"] input[name="reason"]`, "receiver being replaced")
	op.click(`form[data-action="webhook-disable"] [type="submit"]`)
	require.Equal(t, "1", op.text("#dry-run-count"))
	got, err := eps.Get(ctx, ep.ID)
	require.NoError(t, err)
	require.True(t, got.Enabled, "the confirm page disables nothing")

	op.click("button#confirm")
	require.Contains(t, op.bodyText(), "1 of 1 disabled")
	got, err = eps.Get(ctx, ep.ID)
	require.NoError(t, err)
	require.False(t, got.Enabled)
	require.Equal(t, "receiver being replaced", got.DisabledReason)

	op.open(con.url("/ui/webhooks"))
	require.Contains(t, op.text(`tr[data-endpoint="`+ep.ID+`"]`), "disabled receiver being replaced")
}
