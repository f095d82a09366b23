package flexapitest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
)

const tok = "tok-test"

// body returns a valid POST /labels body for key, order and ship-to postal code.
func body(key, order, postal, product string) string {
	return fmt.Sprintf(`{"idempotencyKey":%q,"courier":"yunexpress","service":{"productCode":%q},
		"order":{"customerOrderNumber":%q},
		"shipment":{"shipTo":{"address":{"city":"Los Angeles","state":"CA","postalCode":%q,"countryCode":"US"}},
		"shipFrom":{"address":{"city":"Shenzhen","state":"GD","postalCode":"518000","countryCode":"CN"}},
		"parcels":[{"weight":1.2}]}}`, key, product, order, postal)
}

type answer struct {
	status int
	header http.Header
	raw    []byte
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(a.raw, &m), "body: %s", a.raw)
	return m
}

func call(t *testing.T, method, url, token, reqBody string) answer {
	t.Helper()
	var rdr io.Reader
	if reqBody != "" {
		rdr = strings.NewReader(reqBody)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rdr)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{resp.StatusCode, resp.Header, raw}
}

func post(t *testing.T, srv *flexapitest.Server, token, b string) answer {
	t.Helper()
	return call(t, http.MethodPost, srv.URL()+"/labels", token, b)
}

func TestServer_CreateAndReplay(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok)

	first := post(t, srv, tok, body("k1", "N-1", "90001", "HKMUZXR"))
	require.Equal(t, http.StatusCreated, first.status)
	require.Equal(t, "application/json", first.header.Get("Content-Type"))
	m := first.json(t)
	require.Equal(t, []string{"courier", "courierOrderNumber", "courierTrackingNumber", "error", "id", "status"}, keys(m))
	require.Equal(t, "created", m["status"])
	require.Nil(t, m["error"])

	again := post(t, srv, tok, body("k1", "N-1", "90001", "HKMUZXR"))
	require.Equal(t, http.StatusOK, again.status)
	require.JSONEq(t, string(first.raw), string(again.raw))

	stored, ok := srv.LabelByKey("account-1", "k1")
	require.True(t, ok)
	require.Equal(t, m["id"], stored.ID)
	byID, ok := srv.Label(stored.ID)
	require.True(t, ok)
	require.Equal(t, stored, byID)
	_, ok = srv.Label("nope")
	require.False(t, ok)
	_, ok = srv.LabelByKey("account-2", "k1")
	require.False(t, ok)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestServer_ValidationFailures(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok)
	valid := body("k-v", "N-v", "90001", "HKMUZXR")
	cases := []struct {
		name   string
		body   string
		fields []string
	}{
		{"not JSON", "hello", []string{""}},
		{"empty body", "", []string{""}},
		{"unknown top-level field", strings.Replace(valid, `"courier"`, `"shipperAccountId":"x","courier"`, 1), []string{"shipperAccountId"}},
		{"unknown nested field", strings.Replace(valid, `"city":"Los Angeles"`, `"zip":"1","city":"Los Angeles"`, 1), []string{"shipment.shipTo.address.zip"}},
		{"wrong type", strings.Replace(valid, `"weight":1.2`, `"weight":"1.2"`, 1), []string{"shipment.parcels[0].weight"}},
		{"rules", strings.Replace(strings.Replace(valid, `"weight":1.2`, `"weight":0`, 1), `"countryCode":"US"`, `"countryCode":"USA"`, 1),
			[]string{"shipment.shipTo.address.countryCode", "shipment.parcels[0].weight"}},
		{"too large", strings.Replace(valid, `"courier"`, `"customs":"`+strings.Repeat("x", 1<<20)+`","courier"`, 1), []string{""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, srv, tok, tc.body)
			require.Equal(t, http.StatusBadRequest, a.status)
			var v struct {
				Error   string           `json:"error"`
				Details []flexapi.Detail `json:"details"`
			}
			require.NoError(t, json.Unmarshal(a.raw, &v))
			require.Equal(t, "Validation failed", v.Error)
			got := make([]string, len(v.Details))
			for i, d := range v.Details {
				got[i] = d.Field
				require.NotEmpty(t, d.Message)
			}
			require.Equal(t, tc.fields, got)
		})
	}
	// None of these used up the key.
	require.Equal(t, http.StatusCreated, post(t, srv, tok, valid).status)
	require.Equal(t, 1, srv.Ledger().CreatedPerKey["k-v"])
}

func TestServer_AuthAndRouting(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok, "tok-forbidden")
	srv.Forbid("tok-forbidden")
	u := srv.URL()
	cases := []struct {
		method, path, token string
		status              int
		msg                 string
	}{
		{"POST", "/labels", "", 401, "Unauthorized"},
		{"POST", "/labels", "tok-unknown", 401, "Unauthorized"},
		{"POST", "/labels", "tok-forbidden", 403, "Forbidden"},
		{"GET", "/couriers", "", 401, "Unauthorized"},
		{"GET", "/labels", tok, 405, "Method not allowed"},
		{"POST", "/labels/abc", tok, 405, "Method not allowed"},
		{"PUT", "/tracking/abc", tok, 405, "Method not allowed"},
		{"DELETE", "/couriers", tok, 405, "Method not allowed"},
		{"POST", "/products", tok, 405, "Method not allowed"},
		{"GET", "/v1/labels", tok, 404, "Not found"},
		{"GET", "/labels/", tok, 404, "Not found"},
		{"GET", "/labels/a/b", tok, 404, "Not found"},
		{"GET", "/products", tok, 400, "Validation failed"},
	}
	srv.Revoke("tok-forbidden")
	require.Equal(t, http.StatusUnauthorized, call(t, "GET", u+"/couriers", "tok-forbidden", "").status, "revoked beats forbidden")
	srv.Restore("tok-forbidden")
	require.Equal(t, http.StatusOK, call(t, "GET", u+"/couriers", "tok-forbidden", "").status)
	srv.Forbid("tok-forbidden")
	srv.Restore("tok-unknown") // a no-op for a token never added
	srv.ResetLedger()
	srv.Reset() // tokens and their states survive a reset

	for _, tc := range cases {
		a := call(t, tc.method, u+tc.path, tc.token, "")
		require.Equal(t, tc.status, a.status, "%s %s", tc.method, tc.path)
		require.Equal(t, tc.msg, a.json(t)["error"], "%s %s", tc.method, tc.path)
		if tc.status == 405 {
			require.NotEmpty(t, a.header.Get("Allow"))
		}
	}

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u+"/couriers", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Basic "+tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "only the Bearer scheme counts")
	seen := srv.Seen()
	require.True(t, seen.LastAuthorization)
	require.False(t, seen.LastBearer)
	require.Equal(t, "GET", seen.LastMethod)
	require.Equal(t, "/couriers", seen.LastPath)
	require.Equal(t, 2, seen.CallsWithoutAuth)
	require.Equal(t, "Go-http-client/1.1", seen.LastUserAgent)
	require.Equal(t, len(cases)+1, seen.UserAgents["Go-http-client/1.1"])
	require.Equal(t, len(cases)+1, srv.Ledger().TotalCalls)
}

func TestServer_KeysScopedPerAccount(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, "tok-a", "tok-b")
	a := post(t, srv, "tok-a", body("same", "N-a", "1", "HKMUZXR"))
	b := post(t, srv, "tok-b", body("same", "N-b", "1", "HKMUZXR"))
	require.Equal(t, http.StatusCreated, a.status)
	require.Equal(t, http.StatusCreated, b.status, "the same key under another account is another label")
	require.NotEqual(t, a.json(t)["id"], b.json(t)["id"])

	l := srv.Ledger()
	require.Equal(t, 2, l.CreatedPerKey["same"], "the top level sums accounts")
	require.Equal(t, 1, l.Accounts["account-1"].CreatedPerKey["same"])
	require.Equal(t, 1, l.Accounts["account-2"].CreatedPerKey["same"])
	require.Equal(t, 1, l.Accounts["account-2"].Calls)

	// A label of another account is forbidden, by id or order number.
	id := a.json(t)["id"].(string)
	for _, path := range []string{"/labels/" + id, "/labels/N-a", "/tracking/" + id, "/tracking/N-a"} {
		require.Equal(t, http.StatusForbidden, call(t, "GET", srv.URL()+path, "tok-b", "").status, path)
	}
	// In a batch it is silently left out.
	batch := call(t, "GET", srv.URL()+"/labels/"+id+",N-b", "tok-b", "")
	require.Equal(t, http.StatusOK, batch.status)
	require.Len(t, batch.json(t)["labels"], 1)
}

func TestServer_ConcurrentCallsOfOneKey_OneLabel(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok)
	const n = 40
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		ids      = map[string]bool{}
	)
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/labels", strings.NewReader(body("k-race", "N-race", "1", "HKMUZXR")))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var l flexapi.Label
			_ = json.NewDecoder(resp.Body).Decode(&l)
			mu.Lock()
			statuses[resp.StatusCode]++
			ids[l.ID] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Equal(t, map[int]int{201: 1, 200: n - 1}, statuses)
	require.Len(t, ids, 1)
	l := srv.Ledger()
	require.Equal(t, n, l.CallsPerKey["k-race"])
	require.Equal(t, 1, l.CreatedPerKey["k-race"])
	require.Equal(t, n-1, l.Replays)
	sum := 0
	for _, v := range l.CreateCallsPerSecond {
		sum += v
	}
	require.Equal(t, n, sum)
	require.Positive(t, l.MaxCreateCallsInAnySecond())
	require.LessOrEqual(t, l.MaxCreateCallsInAnySecond(), n)
	require.Empty(t, l.DuplicateOrders())
}

func TestServer_LedgerNoticesDuplicatesAndMismatches(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok)
	require.Equal(t, 201, post(t, srv, tok, body("k-1", "N-dup", "1", "HKMUZXR")).status)
	require.Equal(t, 201, post(t, srv, tok, body("k-2", "N-dup", "1", "HKMUZXR")).status)
	require.Equal(t, 200, post(t, srv, tok, body("k-1", "N-dup", "2", "HKMUZXR")).status, "another body: the original comes back")

	l := srv.Ledger()
	require.Equal(t, []string{"N-dup"}, l.DuplicateOrders())
	require.Equal(t, 2, l.LabelsPerOrder["N-dup"])
	require.Equal(t, 1, l.BodyMismatchesPerKey["k-1"])
	require.GreaterOrEqual(t, l.MaxCallsInAnySecond(), 1)
	require.LessOrEqual(t, l.MaxCallsInAnySecond(), 3)
}

func TestServer_Documents(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok)
	created := post(t, srv, tok, body("k-doc", "N-doc", "1", "HKMUZXR")).json(t)
	failed := post(t, srv, tok, body("k-fail", "N-fail", "1", flexapitest.RejectProductCode))
	require.Equal(t, http.StatusBadGateway, failed.status)
	failedID := failed.json(t)["id"].(string)

	doc := call(t, "GET", srv.URL()+"/labels/N-doc", tok, "").json(t)
	require.Equal(t, []string{"customerOrderNumber", "id", "labelFormat", "url"}, keys(doc))
	pdf := call(t, "GET", doc["url"].(string), "", "")
	require.Equal(t, http.StatusOK, pdf.status)
	require.Contains(t, string(pdf.raw), created["id"])

	require.Equal(t, http.StatusNotFound, call(t, "GET", srv.URL()+"/labels/"+failedID, tok, "").status)
	require.Equal(t, http.StatusNotFound, call(t, "GET", srv.URL()+"/labels/N-fail", tok, "").status)
	require.Equal(t, http.StatusNotFound, call(t, "GET", srv.URL()+"/documents/"+failedID+".pdf", "", "").status)
	require.Equal(t, http.StatusNotFound, call(t, "GET", srv.URL()+"/documents/nope.pdf", "", "").status)
	require.Equal(t, http.StatusMethodNotAllowed, call(t, "DELETE", doc["url"].(string), "", "").status)

	fixed := flexapitest.New(flexapitest.WithBaseURL("https://cdn.example/"), flexapitest.WithToken(tok, "acct"))
	ts := httptest.NewServer(fixed.Handler())
	t.Cleanup(ts.Close)
	require.Empty(t, fixed.URL(), "not started by NewTestServer or Serve")
	call(t, "POST", ts.URL+"/labels", tok, body("k", "N-x", "1", "HKMUZXR"))
	doc = call(t, "GET", ts.URL+"/labels/N-x", tok, "").json(t)
	require.True(t, strings.HasPrefix(doc["url"].(string), "https://cdn.example/documents/"))
}

func TestServer_ProductsAndCouriers(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok)
	a := call(t, "GET", srv.URL()+"/products?courier=yunexpress&locale=zh", tok, "")
	require.Equal(t, http.StatusOK, a.status)
	require.Contains(t, string(a.raw), `"code":"HKMUZXR"`)
	require.JSONEq(t, `{"products":[]}`, string(call(t, "GET", srv.URL()+"/products?courier=other", tok, "").raw))
	missing := call(t, "GET", srv.URL()+"/products", tok, "")
	require.Equal(t, http.StatusBadRequest, missing.status)
	require.JSONEq(t, `{"error":"Validation failed","details":[{"field":"courier","message":"is required"}]}`, string(missing.raw))
	require.JSONEq(t, `[{"code":"yunexpress","name":"YunExpress"}]`, string(call(t, "GET", srv.URL()+"/couriers", tok, "").raw))
}

func TestServer_RateLimitHeaders(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok)
	srv.SetRateLimit(100, 0)
	a := call(t, "GET", srv.URL()+"/couriers", tok, "")
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, "100", a.header.Get("X-RateLimit-Limit"))
	rem, err := strconv.Atoi(a.header.Get("X-RateLimit-Remaining"))
	require.NoError(t, err)
	require.Less(t, rem, 100)
	reset, err := strconv.ParseInt(a.header.Get("X-RateLimit-Reset"), 10, 64)
	require.NoError(t, err)
	require.Greater(t, reset, time.Now().Unix()-1)

	srv.SetRateLimit(0, 0)
	require.Empty(t, call(t, "GET", srv.URL()+"/couriers", tok, "").header.Get("X-RateLimit-Limit"))

	srv.SetRetryAfterFormat(flexapitest.RetryAfterHTTPDate)
	srv.Force429(1, 1500*time.Millisecond)
	limited := call(t, "GET", srv.URL()+"/couriers", tok, "")
	require.Equal(t, http.StatusTooManyRequests, limited.status)
	at, err := http.ParseTime(limited.header.Get("Retry-After"))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(2*time.Second), at, 1500*time.Millisecond)
	require.NotEmpty(t, limited.header.Get("X-RateLimit-Reset"))

	srv.SetRetryAfterFormat("bogus")
	require.Equal(t, flexapitest.RetryAfterSeconds, srv.Faults().RetryAfterFormat)
}

func TestServer_Chaos(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok)
	srv.SetChaos(1, 0)
	for i := range 5 {
		require.Equal(t, 500, post(t, srv, tok, body(fmt.Sprintf("c-%d", i), "N", "1", "HKMUZXR")).status)
	}
	require.Zero(t, srv.Ledger().LabelsCreated)

	srv.SetChaos(0, 1)
	for i := range 5 {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL()+"/labels", strings.NewReader(body(fmt.Sprintf("d-%d", i), "N", "1", "HKMUZXR")))
		req.Header.Set("Authorization", "Bearer "+tok)
		_, err := http.DefaultClient.Do(req)
		require.Error(t, err, "the connection is dropped")
	}
	l := srv.Ledger()
	require.Equal(t, 5, l.LabelsCreated)
	require.Equal(t, 5, l.Dropped)

	srv.SetChaos(-1, 7)
	f := srv.Faults()
	require.Equal(t, 0.0, f.Chaos500)
	require.Equal(t, 1.0, f.ChaosDrop)
}

// TestServer_ChaosIsSeeded runs the same storm against two fakes with one
// seed and expects the same outcomes, call by call.
func TestServer_ChaosIsSeeded(t *testing.T) {
	t.Parallel()
	storm := func(seed uint64) []int {
		srv := flexapitest.New(flexapitest.WithSeed(seed), flexapitest.WithToken(tok, "acct"))
		ts := httptest.NewServer(srv)
		defer ts.Close()
		srv.SetChaos(0.4, 0.3)
		var out []int
		for i := range 30 {
			req, _ := http.NewRequestWithContext(t.Context(), "POST", ts.URL+"/labels", strings.NewReader(body(fmt.Sprintf("s-%d", i), "N", "1", "HKMUZXR")))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				out = append(out, 0)
				continue
			}
			resp.Body.Close()
			out = append(out, resp.StatusCode)
		}
		require.Equal(t, seed, srv.Faults().Seed)
		return out
	}
	a, b := storm(42), storm(42)
	require.Equal(t, a, b)
	require.Contains(t, a, 0)
	require.Contains(t, a, 500)
	require.Contains(t, a, 201)
}

func TestServer_FailFirstAndDropCountPerKey(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok)
	srv.FailFirst(2)
	srv.SetLatency(time.Millisecond) // changing another switch keeps the counts
	for _, want := range []int{500, 500, 201, 200} {
		require.Equal(t, want, post(t, srv, tok, body("k-ff", "N", "1", "HKMUZXR")).status)
	}
	require.Equal(t, 500, post(t, srv, tok, body("k-ff-2", "N", "1", "HKMUZXR")).status, "each key fails first")
	srv.FailFirst(1) // restarts the counts
	require.Equal(t, 500, post(t, srv, tok, body("k-ff", "N", "1", "HKMUZXR")).status)
	srv.FailFirst(0)

	srv.DropAfterCreate(2)
	for range 2 {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL()+"/labels", strings.NewReader(body("k-drop", "N", "1", "HKMUZXR")))
		req.Header.Set("Authorization", "Bearer "+tok)
		_, err := http.DefaultClient.Do(req)
		require.Error(t, err)
	}
	require.Equal(t, 200, post(t, srv, tok, body("k-drop", "N", "1", "HKMUZXR")).status)
	l := srv.Ledger()
	require.Equal(t, 2, l.Dropped)
	require.Equal(t, 1, l.CreatedPerKey["k-drop"])
	require.Equal(t, 2, l.ReplaysPerKey["k-drop"])
}

func TestServer_LatencyAbandoned(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok)
	srv.SetLatency(10 * time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL()+"/labels", strings.NewReader(body("k-slow", "N", "1", "HKMUZXR")))
	req.Header.Set("Authorization", "Bearer "+tok)
	_, err := http.DefaultClient.Do(req)
	require.Error(t, err)
	require.Eventually(t, func() bool { return srv.Ledger().Abandoned == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Zero(t, srv.Ledger().LabelsCreated)
}

func TestServer_Tracking(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok)
	post(t, srv, tok, body("k-t", "N-t", flexapitest.PostalDelivered, "HKMUZXR"))
	first := call(t, "GET", srv.URL()+"/tracking/N-t", tok, "").json(t)
	require.Equal(t, "InfoReceived", first["tag"], "a journey starts when its label is created")
	require.Len(t, first["checkpoints"], 1)
	srv.SetTrackingSpeedup(1e9) // 96 h pass in well under a millisecond
	time.Sleep(time.Millisecond)
	a := call(t, "GET", srv.URL()+"/tracking/N-t", tok, "")
	require.Equal(t, http.StatusOK, a.status)
	m := a.json(t)
	require.Equal(t, []string{"checkpoints", "id", "slug", "subtag", "subtagMessage", "tag", "trackingNumber"}, keys(m))
	require.Equal(t, "Delivered", m["tag"])
	cps := m["checkpoints"].([]any)
	require.Equal(t, []string{"checkpointTime", "city", "countryRegion", "location", "message", "slug", "state", "subtag", "subtagMessage", "tag"},
		keys(cps[0].(map[string]any)))
	require.Equal(t, "Los Angeles", cps[0].(map[string]any)["city"])
	require.Nil(t, cps[len(cps)-1].(map[string]any)["location"])
	require.Equal(t, "Shenzhen", cps[len(cps)-1].(map[string]any)["city"])
	require.Equal(t, http.StatusNotFound, call(t, "GET", srv.URL()+"/tracking/nope", tok, "").status)
	require.Equal(t, 2, srv.Ledger().TrackingCallsPerLabel[m["id"].(string)])
	require.Equal(t, 2, srv.Ledger().Accounts["account-1"].TrackingCalls, "counted on the caller's account")
}

// Each sandbox code's journey, as it progresses on a fast clock.
func TestServer_Tracking_JourneysProgress(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok)
	want := map[string][]string{
		flexapitest.PostalDelivered: {"InfoReceived", "InTransit", "Delivered"},
		flexapitest.PostalException: {"InfoReceived", "InTransit", "Exception"},
		flexapitest.PostalInTransit: {"InfoReceived", "InTransit"},
		flexapitest.PostalCancelled: {"InfoReceived", "Cancelled"},
		flexapitest.PostalNewTag:    {"InfoReceived", "AvailableForPickup"},
	}
	for code := range want {
		post(t, srv, tok, body("k-"+code, "N-"+code, code, "HKMUZXR"))
	}
	seen := map[string][]string{}
	observe := func() {
		for code := range want {
			tag := call(t, "GET", srv.URL()+"/tracking/N-"+code, tok, "").json(t)["tag"].(string)
			if s := seen[code]; len(s) == 0 || s[len(s)-1] != tag {
				seen[code] = append(s, tag)
			}
		}
	}
	observe()                          // in real time: every journey has only begun
	srv.SetTrackingSpeedup(3600 * 100) // an hour in 10 ms: 96 h in ~1 s
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		observe()
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, want, seen)
}

func TestServer_Admin(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, tok)
	u := srv.URL() + "/_fake"

	f := call(t, "GET", u+"/faults", "", "")
	require.Equal(t, http.StatusOK, f.status)
	var faults map[string]any
	require.NoError(t, json.Unmarshal(f.raw, &faults))
	require.Equal(t, "0s", faults["latency"])

	set := call(t, "POST", u+"/faults", "", `{"latency":"5ms","failFirst":1,"force429":1,"force429RetryAfter":"2s","retryAfterFormat":"none","seed":7}`)
	require.Equal(t, http.StatusOK, set.status, string(set.raw))
	got := srv.Faults()
	require.Equal(t, 5*time.Millisecond, got.Latency)
	require.Equal(t, 1, got.FailFirst)
	require.Equal(t, 1, got.Force429)
	require.Equal(t, 2*time.Second, got.Force429RetryAfter)
	require.Equal(t, flexapitest.RetryAfterNone, got.RetryAfterFormat)
	require.Equal(t, uint64(7), got.Seed)

	require.Equal(t, http.StatusOK, call(t, "POST", u+"/faults", "", `{"chaos500":0.25}`).status)
	got = srv.Faults()
	require.Equal(t, 0.25, got.Chaos500)
	require.Equal(t, 5*time.Millisecond, got.Latency, "fields left out stay")

	for _, bad := range []string{`{"latency":"soon"}`, `{"failFirst":-1}`, `{"chaosDrop":2}`, `{"retryAfterFormat":"x"}`, `{"latancy":"1s"}`, `nope`,
		`{"rateLimitRetryAfter":"x"}`, `{"force429RetryAfter":"-1s"}`} {
		require.Equal(t, http.StatusBadRequest, call(t, "POST", u+"/faults", "", bad).status, bad)
	}
	require.Equal(t, 0.25, srv.Faults().Chaos500, "a refused patch changes nothing")

	limited := post(t, srv, tok, body("k-adm", "N", "1", "HKMUZXR"))
	require.Equal(t, http.StatusTooManyRequests, limited.status)
	require.Empty(t, limited.header.Get("Retry-After"))
	require.NotEmpty(t, limited.header.Get("X-RateLimit-Reset"))

	cleared := call(t, "DELETE", u+"/faults", "", "")
	require.Equal(t, http.StatusOK, cleared.status)
	require.Equal(t, flexapitest.Faults{Seed: 7}, srv.Faults())

	require.Equal(t, 201, post(t, srv, tok, body("k-adm", "N", "1", "HKMUZXR")).status)
	var l flexapitest.Ledger
	require.NoError(t, json.Unmarshal(call(t, "GET", u+"/ledger", "", "").raw, &l))
	require.Equal(t, 2, l.CallsPerKey["k-adm"])
	require.Equal(t, 1, l.StatusCounts[201])
	require.Equal(t, 1, l.Accounts["account-1"].CreatedPerKey["k-adm"])

	var seen flexapitest.Seen
	require.NoError(t, json.Unmarshal(call(t, "GET", u+"/seen", "", "").raw, &seen))
	require.True(t, seen.LastBearer)

	require.Equal(t, http.StatusNoContent, call(t, "POST", u+"/reset?only=ledger", "", "").status)
	require.Zero(t, srv.Ledger().TotalCalls)
	require.Equal(t, 200, post(t, srv, tok, body("k-adm", "N", "1", "HKMUZXR")).status, "labels survive a ledger reset")
	require.Equal(t, http.StatusNoContent, call(t, "POST", u+"/reset", "", "").status)
	require.Equal(t, 201, post(t, srv, tok, body("k-adm", "N", "1", "HKMUZXR")).status, "a full reset forgets labels")
	require.Equal(t, http.StatusBadRequest, call(t, "POST", u+"/reset?only=labels", "", "").status)

	require.Equal(t, http.StatusOK, call(t, "POST", u+"/tokens", "", `{"token":"tok-new","account":"acct-new"}`).status)
	require.Equal(t, 201, post(t, srv, "tok-new", body("k-new", "N", "1", "HKMUZXR")).status)
	forbid := call(t, "POST", u+"/tokens", "", `{"token":"tok-new","state":"forbidden"}`)
	require.Equal(t, http.StatusOK, forbid.status)
	require.NotContains(t, string(forbid.raw), "tok-new")
	require.Equal(t, 403, post(t, srv, "tok-new", body("k-new", "N", "1", "HKMUZXR")).status)
	require.Equal(t, http.StatusOK, call(t, "POST", u+"/tokens", "", `{"token":"tok-new","state":"revoked"}`).status)
	require.Equal(t, 401, post(t, srv, "tok-new", body("k-new", "N", "1", "HKMUZXR")).status)
	for _, bad := range []string{`{"token":"tok-x"}`, `{"token":"tok-new","state":"sleepy"}`, `{}`, `{"token":"t","extra":1}`} {
		require.Equal(t, http.StatusBadRequest, call(t, "POST", u+"/tokens", "", bad).status, bad)
	}

	require.Equal(t, http.StatusMethodNotAllowed, call(t, "POST", u+"/ledger", "", "").status)
	require.Equal(t, http.StatusMethodNotAllowed, call(t, "GET", u+"/reset", "", "").status)
	require.Equal(t, http.StatusMethodNotAllowed, call(t, "PUT", u+"/faults", "", "").status)
	require.Equal(t, http.StatusNotFound, call(t, "GET", u+"/nothing", "", "").status)
	require.Zero(t, srv.Ledger().TotalCalls-srv.Ledger().CreateCalls, "admin calls are not API calls")
}

func TestServer_WithoutAdmin(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(flexapitest.New(flexapitest.WithoutAdmin()))
	t.Cleanup(ts.Close)
	require.Equal(t, http.StatusNotFound, call(t, "GET", ts.URL+"/_fake/ledger", "", "").status)
}

func TestServer_SetFaults(t *testing.T) {
	t.Parallel()
	srv := flexapitest.New()
	require.Error(t, srv.SetFaults(flexapitest.Faults{FailFirst: -1}))
	require.Error(t, srv.SetFaults(flexapitest.Faults{Latency: -time.Second}))
	want := flexapitest.Faults{Latency: time.Second, RateLimit: 10, RetryAfterFormat: flexapitest.RetryAfterHTTPDate, ChaosDrop: 0.5, Seed: 3}
	require.NoError(t, srv.SetFaults(want))
	require.Equal(t, want, srv.Faults())

	raw, err := json.Marshal(want)
	require.NoError(t, err)
	require.Contains(t, string(raw), `"latency":"1s"`)
	var back flexapitest.Faults
	require.NoError(t, json.Unmarshal(raw, &back))
	require.Equal(t, want, back)

	srv.SetSeed(9)
	require.Equal(t, uint64(9), srv.Faults().Seed)
	srv.ClearFaults()
	require.Equal(t, flexapitest.Faults{Seed: 9}, srv.Faults())
}

type fakeTB struct{ cleanups []func() }

func (*fakeTB) Helper()             {}
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

func TestNewTestServer_ClosesOnCleanup(t *testing.T) {
	t.Parallel()
	tb := &fakeTB{}
	srv := flexapitest.NewTestServer(tb, tok)
	require.Equal(t, http.StatusOK, call(t, "GET", srv.URL()+"/couriers", tok, "").status)
	require.Len(t, tb.cleanups, 1)
	tb.cleanups[0]()
	_, err := http.Get(srv.URL() + "/couriers")
	require.Error(t, err)
}

func TestServer_Serve(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := flexapitest.New(flexapitest.WithToken(tok, "acct"))
	srv.SetLatency(100 * time.Millisecond)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	u := "http://" + ln.Addr().String()
	require.Eventually(t, func() bool { return srv.URL() == u }, time.Second, time.Millisecond)
	slow := make(chan int, 1)
	go func() {
		resp, err := http.Post(u+"/labels", "application/json", bytes.NewReader([]byte(body("k", "N", "1", "HKMUZXR"))))
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	require.Eventually(t, func() bool { return srv.Ledger().TotalCalls == 1 }, time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	require.Equal(t, http.StatusUnauthorized, <-slow, "a call in flight is answered before shutdown")
	_, err = http.Get(u + "/couriers")
	require.Error(t, err, "the listener is closed")
}

// Each account has its own limit per second: one account over it gets
// 429s (counted in its ledger) while another's calls go through.
func TestServer_AccountRateLimit(t *testing.T) {
	t.Parallel()
	const other = "tok-OTHER-5e1f"
	srv := flexapitest.NewTestServer(t, tok, other)
	srv.SetAccountRateLimit(3)
	// Within one wall-clock second: wait for the start of one, so the
	// calls below cannot straddle two.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	var codes []int
	for range 5 {
		codes = append(codes, call(t, "GET", srv.URL()+"/couriers", tok, "").status)
	}
	require.Equal(t, []int{200, 200, 200, 429, 429}, codes)
	require.Equal(t, http.StatusOK, call(t, "GET", srv.URL()+"/couriers", other, "").status, "another account has its own limit")
	l := srv.Ledger()
	require.Equal(t, 2, l.Accounts["account-1"].RateLimited)
	require.Zero(t, l.Accounts["account-2"].RateLimited)

	var f flexapitest.Faults
	require.NoError(t, json.Unmarshal([]byte(`{"accountRateLimit":10}`), &f))
	require.Equal(t, 10, f.AccountRateLimit)
}
