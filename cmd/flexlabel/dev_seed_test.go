package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

func TestSamplePlan_EveryReasonFromTwelve(t *testing.T) {
	t.Parallel()
	reasons := func(n int) map[queue.Reason]int {
		m := map[queue.Reason]int{}
		for _, s := range samplePlan(n) {
			m[s.reason]++
		}
		return m
	}
	for _, n := range []int{12, 13, 50, 1000} {
		got := reasons(n)
		for _, r := range queue.Reasons {
			require.Equal(t, 1, got[r], "n=%d reason %s", n, r)
		}
		require.Equal(t, n-len(queue.Reasons), got[""], "n=%d: the rest complete", n)
	}
	require.Equal(t, map[queue.Reason]int{"": 1}, reasons(1))
	require.Equal(t, map[queue.Reason]int{"": 3, queue.ReasonAuth: 1, queue.ReasonInvalid: 1, queue.ReasonNotFound: 1}, reasons(6))
}

// TestDev_Seed_BannerLastEveryReasonAndTokenRehearsal runs `dev --seed 12`
// with stdout and stderr on one stream, as a terminal shows them: the banner
// comes after the start-up lines and only the one summary line follows it;
// every dead-letter reason is seeded; and the banner's revoke and restore
// commands rehearse the token-rotation runbook.
func TestDev_Seed_BannerLastEveryReasonAndTokenRehearsal(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var term queuetest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--seed", "12"}, map[string]string{"FLEXLABEL_HTTP_ADDR": addr}, strings.NewReader(""), &term, &term)
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Fatal("dev did not stop after cancel")
		}
	}()
	base := "http://" + addr
	const bannerEnd = "dlq redrive --reason auth\n\n"
	require.Eventually(t, func() bool { return strings.Contains(term.String(), "sample labels finished") }, 60*time.Second, 50*time.Millisecond,
		"the samples never all finished:\n%s", term.String())

	all := term.String()
	start := strings.Index(all, "flexlabel dev is running")
	require.GreaterOrEqual(t, start, 0, all)
	require.Contains(t, all[:start], `msg="worker started"`, "start-up lines come before the banner")
	banner, after, ok := strings.Cut(all[start:], bannerEnd)
	require.True(t, ok, all)
	require.Regexp(t, `^time=\S+ level=INFO msg="sample labels finished" completed=6 dead_auth=1 dead_invalid=1 dead_not_found=1 dead_courier_rejected=1 dead_rejected=1 dead_retries_exhausted=1\n$`, after,
		"only the summary follows the banner; the samples' own lines are at debug")
	require.NotRegexp(t, `level=(INFO|WARN) .*sample-`, all)

	require.Contains(t, banner, "Seeded       12 sample labels (enqueued 12)")
	require.Contains(t, banner, "expected: completed 6; dead auth 1, invalid 1, not_found 1, courier_rejected 1, rejected 1, retries_exhausted 1")
	require.Contains(t, banner, "FLEXLABEL_MAX_RETRY=5 (dev default)")
	require.Contains(t, banner, "FLEXLABEL_RETRY_BASE=200ms (dev default)")
	require.Contains(t, banner, "FLEXLABEL_RETRY_MAX=5s (dev default)")
	producer := regexp.MustCompile(`dev-producer-[0-9a-f]+`).FindString(banner)
	revoke := regexp.MustCompile(`curl -s -X POST --data '(\{"token":"dev-flexforward-[0-9a-f]+","state":"revoked"\})' (http://\S+/_fake/tokens)`).FindStringSubmatch(banner)
	restore := regexp.MustCompile(`curl -s -X POST --data '(\{"token":"dev-flexforward-[0-9a-f]+","state":"active"\})' (http://\S+/_fake/tokens)`).FindStringSubmatch(banner)
	require.NotEmpty(t, producer, banner)
	require.Len(t, revoke, 3, banner)
	require.Len(t, restore, 3, banner)

	// apiTo reports to t, which may be an EventuallyWithT's CollectT.
	apiTo := func(t require.TestingT, method, path, body string) (int, string) {
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+producer)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	api := func(method, path, body string) (int, string) {
		t.Helper()
		return apiTo(t, method, path, body)
	}
	waitState := func(key, want string) {
		t.Helper()
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			_, b := apiTo(c, "GET", "/v1/labels/"+key, "")
			assert.Contains(c, b, `"state":"`+want+`"`)
		}, 30*time.Second, 50*time.Millisecond, "%s never became %s", key, want)
	}
	for i, r := range []string{"auth", "invalid", "not_found", "courier_rejected", "rejected", "retries_exhausted"} {
		key := []string{"sample-00002", "sample-00004", "sample-00006", "sample-00008", "sample-00010", "sample-00012"}[i]
		_, b := api("GET", "/v1/labels/"+key, "")
		require.Contains(t, b, `"reason":"`+r+`"`, key)
	}

	// The runbook, rehearsed: revoke, a job dead-letters as auth; restore,
	// redrive, it completes, and so does the seeded auth sample.
	post := func(url, body string) {
		t.Helper()
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
	}
	post(revoke[2], revoke[1])
	req, err := os.ReadFile("../../docs/examples/request.json")
	require.NoError(t, err)
	code, b := api("POST", "/v1/labels", string(req))
	require.Equal(t, 202, code, b)
	waitState("ord-20260527-0001", "dead")
	_, b = api("GET", "/v1/labels/ord-20260527-0001", "")
	require.Contains(t, b, `"reason":"auth"`)
	post(restore[2], restore[1])
	for _, key := range []string{"ord-20260527-0001", "sample-00002"} {
		code, b := api("POST", "/v1/dead-letters/"+key+"/redrive", "")
		require.Equal(t, 200, code, b)
		waitState(key, "completed")
	}
}
