package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

// TestWorker_TokenRefusedAtStart_ExitsTwoBeforeTakingAJob: with a token Flex
// Forward refuses, a job enqueued beforehand would be dead-lettered as auth;
// the worker refuses to start instead, and the job still waits.
func TestWorker_TokenRefusedAtStart_ExitsTwoBeforeTakingAJob(t *testing.T) {
	t.Parallel()
	for name, refuse := range map[string]func(fake *flexapitest.Server, token string){
		"401 revoked":   func(f *flexapitest.Server, tok string) { f.Revoke(tok) },
		"403 forbidden": func(f *flexapitest.Server, tok string) { f.Forbid(tok) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			enq := c.run(t, string(queuetest.RequestJSON("tok-1", "")), "enqueue")
			require.Equal(t, 0, enq.code, enq.stderr)

			fake := flexapitest.NewTestServer(t, cliToken)
			refuse(fake, cliToken)
			c.env["FLEXFORWARD_TOKEN"] = cliToken
			c.env["FLEXFORWARD_BASE_URL"] = fake.URL()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan result, 1)
			go func() {
				var out, errb queuetest.Buffer
				err := run(ctx, []string{"worker"}, c.env, strings.NewReader(""), &out, &errb)
				code := exitCode(err, &errb)
				done <- result{out.String(), errb.String(), code}
			}()
			var r result
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			deadline := time.After(30 * time.Second)
		wait:
			for {
				select {
				case r = <-done:
					break wait
				case <-tick.C:
					if fake.Ledger().CreateCalls > 0 {
						t.Fatal("the worker started with a refused token and called a job")
					}
				case <-deadline:
					t.Fatal("the worker started with a refused token")
				}
			}
			require.Equal(t, 2, r.code, r.stderr)
			require.Contains(t, r.stderr, "FLEXFORWARD_TOKEN")
			require.Contains(t, r.stderr, strings.Fields(name)[0])
			require.NotContains(t, r.stderr, cliToken)

			l := fake.Ledger()
			require.Equal(t, 1, l.TotalCalls, "one GET /couriers")
			require.Zero(t, l.CreateCalls, "no job was called")
			st := c.run(t, "", "status", "--json", "tok-1")
			require.Equal(t, "pending", lines(t, st.stdout)[0]["state"], "the job is not consumed")
		})
	}
}

// TestWorker_APIErroringAtStart_WarnsAndWorks: an API that fails the token
// check with a 503 is a warning; the worker starts and makes the label.
func TestWorker_APIErroringAtStart_WarnsAndWorks(t *testing.T) {
	t.Parallel()
	fake := flexapitest.New(flexapitest.WithToken(cliToken, "acct"))
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/couriers" {
			http.Error(w, `{"error":"Service unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	defer front.Close()

	c := newCLI(t)
	env := map[string]string{"FLEXFORWARD_TOKEN": cliToken, "FLEXFORWARD_BASE_URL": front.URL, "FLEXLABEL_RATE_LIMIT": "1000"}
	for k, v := range c.env {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs queuetest.Buffer
	go func() { done <- run(ctx, []string{"worker"}, env, strings.NewReader(""), &logs, &logs) }()

	enq := c.run(t, string(queuetest.RequestJSON("tok-2", "")), "enqueue")
	require.Equal(t, 0, enq.code, enq.stderr)
	c.waitState(t, "tok-2", "completed")
	cancel()
	require.NoError(t, <-done)
	require.Contains(t, logs.String(), "could not check FLEXFORWARD_TOKEN at start; starting anyway")
	require.Contains(t, logs.String(), "HTTP 503")
	require.NotContains(t, logs.String(), cliToken)
}
