package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/queue/queuetest"
)

var fakeapiListening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// startFakeapi runs "flexlabel fakeapi" with args on a free port and
// returns its base URL, its output, and a stop function that cancels the
// command and returns what run returned.
func startFakeapi(t *testing.T, args ...string) (string, *queuetest.Buffer, func() error) {
	t.Helper()
	return startFakeapiEnv(t, map[string]string{}, args...)
}

// startFakeapiEnv is startFakeapi with an environment.
func startFakeapiEnv(t *testing.T, env map[string]string, args ...string) (string, *queuetest.Buffer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &queuetest.Buffer{}, &queuetest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"fakeapi", "--addr", "127.0.0.1:0"}, args...), env, strings.NewReader(""), stdout, stderr)
	}()
	stopped := false
	var stopErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("fakeapi did not stop within 10s of cancellation")
			}
		}
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })

	deadline := time.After(5 * time.Second)
	for {
		if m := fakeapiListening.FindStringSubmatch(stderr.String()); m != nil {
			return m[1], stderr, stop
		}
		select {
		case err := <-done:
			stopped, stopErr = true, err
			t.Fatalf("fakeapi exited early: %v\nstderr: %s", err, stderr.String())
		case <-deadline:
			t.Fatalf("no listening line on stderr within 5s: %q", stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func fakeapiRequest(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, raw
}

const fakeapiLabelBody = `{"idempotencyKey":"cmd-1","courier":"yunexpress","service":{"productCode":"HKMUZXR"},
 "order":{"customerOrderNumber":"N-cmd-1"},
 "shipment":{"shipTo":{"address":{"city":"Los Angeles","state":"CA","postalCode":"90001","countryCode":"US"}},
  "shipFrom":{"address":{"city":"Kishiwada-Shi","state":"Osaka","postalCode":"596-0825","countryCode":"JP"}},
  "parcels":[{"weight":0.5}]}}`

func TestFakeapi_ServesTheContractUntilCancelled(t *testing.T) {
	t.Parallel()
	const token = "tok-cmd-secret"
	url, stderr, stop := startFakeapi(t, "--token", token, "--token", "tok-cmd-other")

	c, err := flexapi.NewClient(url, token)
	require.NoError(t, err)
	req, err := flexapi.ParseLabelRequest([]byte(fakeapiLabelBody))
	require.NoError(t, err)

	label, err := c.CreateLabel(t.Context(), req)
	require.NoError(t, err)
	require.False(t, label.Replayed)
	again, err := c.CreateLabel(t.Context(), req)
	require.NoError(t, err)
	require.True(t, again.Replayed)
	require.Equal(t, label.ID, again.ID)

	// The second token is another account: same key, another label.
	other, err := flexapi.NewClient(url, "tok-cmd-other")
	require.NoError(t, err)
	theirs, err := other.CreateLabel(t.Context(), req)
	require.NoError(t, err)
	require.NotEqual(t, label.ID, theirs.ID)

	bad, err := flexapi.NewClient(url, "tok-wrong")
	require.NoError(t, err)
	_, err = bad.CreateLabel(t.Context(), req)
	var ae *flexapi.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusUnauthorized, ae.StatusCode)

	status, raw := fakeapiRequest(t, "POST", url+"/labels", token, strings.Replace(fakeapiLabelBody, `"weight":0.5`, `"weight":0`, 1))
	require.Equal(t, http.StatusBadRequest, status)
	require.JSONEq(t, `{"error":"Validation failed","details":[{"field":"shipment.parcels[0].weight","message":"must be greater than 0"}]}`, string(raw))

	status, raw = fakeapiRequest(t, "POST", url+"/labels", token, strings.Replace(fakeapiLabelBody, `"courier"`, `"shipperAccountId":"A1","courier"`, 1))
	require.Equal(t, http.StatusBadRequest, status)
	require.JSONEq(t, `{"error":"Validation failed","details":[{"field":"shipperAccountId","message":"unknown field"}]}`, string(raw))

	doc, err := c.GetLabel(t.Context(), "N-cmd-1")
	require.NoError(t, err)
	require.Equal(t, url+"/documents/"+label.ID+".pdf", doc.URL)
	status, raw = fakeapiRequest(t, "GET", doc.URL, "", "")
	require.Equal(t, http.StatusOK, status)
	require.True(t, bytes.HasPrefix(raw, []byte("%PDF-")))

	tr, err := c.GetTracking(t.Context(), label.ID)
	require.NoError(t, err)
	require.Equal(t, flexapi.TagInfoReceived, tr.Tag, "a journey starts when its label is created")

	_, err = c.GetLabel(t.Context(), "no-such-label")
	require.ErrorIs(t, err, flexapi.ErrNotFound)

	status, raw = fakeapiRequest(t, "GET", url+"/_fake/ledger", "", "")
	require.Equal(t, http.StatusOK, status)
	var ledger struct {
		CreatedPerKey map[string]int `json:"createdPerKey"`
	}
	require.NoError(t, json.Unmarshal(raw, &ledger))
	require.Equal(t, 2, ledger.CreatedPerKey["cmd-1"], "one label in each of the two accounts")

	require.NoError(t, stop(), "a cancelled fakeapi shuts down cleanly")
	_, err = c.GetCouriers(t.Context())
	require.ErrorAs(t, err, new(*flexapi.NetworkError), "nothing listens any more")
	require.NotContains(t, stderr.String(), token)
	require.NotContains(t, stderr.String(), "tok-cmd-other")
	require.Equal(t, 1, strings.Count(stderr.String(), "\n"), "one line on stderr: %q", stderr.String())
}

func TestFakeapi_FaultFlags(t *testing.T) {
	t.Parallel()
	url, _, stop := startFakeapi(t, "--token", "tok-f", "--fail-first", "1", "--latency", "20ms")
	status, raw := fakeapiRequest(t, "GET", url+"/_fake/faults", "", "")
	require.Equal(t, http.StatusOK, status)
	var faults struct {
		Latency   string `json:"latency"`
		FailFirst int    `json:"failFirst"`
	}
	require.NoError(t, json.Unmarshal(raw, &faults))
	require.Equal(t, "20ms", faults.Latency)
	require.Equal(t, 1, faults.FailFirst)

	status, _ = fakeapiRequest(t, "POST", url+"/labels", "tok-f", fakeapiLabelBody)
	require.Equal(t, http.StatusInternalServerError, status)
	status, _ = fakeapiRequest(t, "POST", url+"/labels", "tok-f", fakeapiLabelBody)
	require.Equal(t, http.StatusCreated, status)
	require.NoError(t, stop())
}

func TestFakeapi_RefusesBadFlags(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{
		"no token":            {"fakeapi", "--addr", "127.0.0.1:0"},
		"empty token":         {"fakeapi", "--addr", "127.0.0.1:0", "--token", ""},
		"negative fail-first": {"fakeapi", "--addr", "127.0.0.1:0", "--token", "t", "--fail-first", "-1"},
		"negative latency":    {"fakeapi", "--addr", "127.0.0.1:0", "--token", "t", "--latency", "-1s"},
		"bad address":         {"fakeapi", "--addr", "127.0.0.1:99999", "--token", "t"},
		"stray argument":      {"fakeapi", "--token", "t", "extra"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err := run(ctx, args, map[string]string{}, strings.NewReader(""), &stdout, &stderr)
			require.Error(t, err)
			require.NoError(t, ctx.Err(), "refused at once, without serving")
		})
	}
}

// FLEXLABEL_TRACKING_SPEEDUP speeds the fake's tracking journeys up: with
// 1e9, 90001's 96 hours to Delivered pass within a millisecond.
func TestFakeapi_TrackingSpeedupFromTheEnvironment(t *testing.T) {
	t.Parallel()
	const token = "tok-cmd-secret"
	url, _, _ := startFakeapiEnv(t, map[string]string{"FLEXLABEL_TRACKING_SPEEDUP": "1e9"}, "--token", token)
	c, err := flexapi.NewClient(url, token)
	require.NoError(t, err)
	req, err := flexapi.ParseLabelRequest([]byte(fakeapiLabelBody))
	require.NoError(t, err)
	label, err := c.CreateLabel(t.Context(), req)
	require.NoError(t, err)
	time.Sleep(time.Millisecond)
	tr, err := c.GetTracking(t.Context(), label.ID)
	require.NoError(t, err)
	require.Equal(t, flexapi.TagDelivered, tr.Tag)

	err = run(t.Context(), []string{"fakeapi", "--token", token}, map[string]string{"FLEXLABEL_TRACKING_SPEEDUP": "0.5"},
		strings.NewReader(""), &queuetest.Buffer{}, &queuetest.Buffer{})
	require.ErrorContains(t, err, "FLEXLABEL_TRACKING_SPEEDUP: must be a number of at least 1")
}
