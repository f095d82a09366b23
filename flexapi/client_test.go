package flexapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
	"github.com/flexlabel/flexlabel/flexapi/flexapitest"
)

// secretToken must never show up in anything the client prints or returns.
const secretToken = "tok-S3CR3T-d0-not-leak"

// exampleJSON is the documentation's own example request.
const exampleJSON = `{"idempotencyKey":"ord-20260527-0001","courier":"yunexpress","service":{"productCode":"HKMUZXR"},
 "label":{"format":"PDF"},"units":{"weight":"KG","dimension":"CM"},
 "order":{"customerOrderNumber":"N-2026-05-27-0001","orderNumbers":{"platformOrderNumber":"P-0001","referenceNumbers":["R-1"]}},
 "shipment":{
  "shipTo":{"contact":{"firstName":"Alex","lastName":"Smith","phone":"8554377467","email":"alex@example.com"},
            "address":{"streetLines":["18 Distribution Blvd"],"city":"Edison","state":"NJ","postalCode":"08817","countryCode":"US"}},
  "shipFrom":{"contact":{"firstName":"John","lastName":"Doe","phone":"886900676877"},
              "address":{"streetLines":["Habucho"],"city":"Kishiwada-Shi","state":"Osaka","postalCode":"596-0825","countryCode":"JP"}},
  "parcels":[{"weight":0.5,"dimension":{"length":30,"width":20,"height":10},
              "items":[{"descriptionEn":"Ink pen","descriptionLocal":"文具","quantity":1,
                        "unitPrice":{"amount":29.99,"currency":"USD"},"unitWeight":0.5}]}]}}`

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// example returns the documented example with its own key and order number.
func example(t *testing.T, key string) *flexapi.LabelRequest {
	t.Helper()
	req, err := flexapi.ParseLabelRequest([]byte(exampleJSON))
	require.NoError(t, err)
	req.IdempotencyKey = key
	req.Order.CustomerOrderNumber = "N-" + key
	return req
}

// setup starts a fake with one account for secretToken and a client for it.
func setup(t *testing.T, opts ...flexapi.Option) (*flexapitest.Server, *flexapi.Client) {
	t.Helper()
	srv := flexapitest.NewTestServer(t, secretToken)
	c, err := flexapi.NewClient(srv.URL(), secretToken, opts...)
	require.NoError(t, err)
	return srv, c
}

func create(t *testing.T, c *flexapi.Client, req *flexapi.LabelRequest) (*flexapi.Label, error) {
	t.Helper()
	return c.CreateLabel(t.Context(), req)
}

func TestCreateLabel_FirstCall_Created(t *testing.T) {
	t.Parallel()
	srv, c := setup(t, flexapi.WithUserAgent("flexlabel-test/1"))

	label, err := create(t, c, example(t, "k-created"))
	require.NoError(t, err)
	require.Regexp(t, uuidV4, label.ID)
	require.Equal(t, flexapi.StatusCreated, label.Status)
	require.Equal(t, "yunexpress", label.Courier)
	require.NotNil(t, label.CourierOrderNumber)
	require.Regexp(t, `^YT\d+$`, *label.CourierOrderNumber)
	require.Equal(t, *label.CourierOrderNumber+"CN", *label.CourierTrackingNumber)
	require.Nil(t, label.Error)
	require.False(t, label.Replayed)
	require.Equal(t, flexapi.Decision{Class: flexapi.Created, StatusCode: 201}, flexapi.Classify(label, err))

	l := srv.Ledger()
	require.Equal(t, 1, l.TotalCalls)
	require.Equal(t, 1, l.CallsPerKey["k-created"])
	require.Equal(t, 1, l.CreatedPerKey["k-created"])
	require.Equal(t, 1, l.Accounts["account-1"].CreatedPerKey["k-created"])
	require.Equal(t, 1, l.StatusCounts[http.StatusCreated])

	seen := srv.Seen()
	require.Equal(t, "flexlabel-test/1", seen.LastUserAgent)
	require.True(t, seen.LastAuthorization)
	require.True(t, seen.LastBearer)
	require.Equal(t, "application/json", seen.LastContentType)
	require.Equal(t, "application/json", seen.LastAccept)
}

func TestCreateLabel_DefaultUserAgent(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	_, err := create(t, c, example(t, "k-ua"))
	require.NoError(t, err)
	require.Equal(t, "flexlabel/"+flexapi.Version, srv.Seen().LastUserAgent)
}

func TestCreateLabel_SameKey_ReplayedWithIdenticalLabel(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	req := example(t, "k-replay")

	first, err := create(t, c, req)
	require.NoError(t, err)
	second, err := create(t, c, req)
	require.NoError(t, err)

	require.True(t, second.Replayed)
	require.False(t, first.Replayed)
	second.Replayed = false
	require.Equal(t, first, second)
	require.Equal(t, flexapi.Created, flexapi.Classify(second, nil).Class)

	l := srv.Ledger()
	require.Equal(t, 2, l.TotalCalls)
	require.Equal(t, 2, l.CallsPerKey["k-replay"])
	require.Equal(t, 1, l.CreatedPerKey["k-replay"])
	require.Equal(t, 1, l.ReplaysPerKey["k-replay"])
	require.Equal(t, 1, l.StatusCounts[http.StatusOK])
	require.Equal(t, 0, l.BodyMismatchesPerKey["k-replay"])
}

func TestCreateLabel_Invalid_400WithFieldPathsAndKeyReusable(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	req := example(t, "k-invalid")
	req.Shipment.Parcels[0].Weight = 0 // omitted on the wire: the server's Validate catches it
	req.Shipment.ShipTo.Address.CountryCode = "USA"

	label, err := create(t, c, req)
	require.Nil(t, label)
	var ae *flexapi.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusBadRequest, ae.StatusCode)
	require.Equal(t, "Validation failed", ae.Message)
	require.ElementsMatch(t, []string{"shipment.shipTo.address.countryCode", "shipment.parcels[0].weight"}, fields(ae.Details))
	require.Contains(t, ae.Error(), "shipment.parcels[0].weight: must be greater than 0")
	require.Equal(t, flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonInvalid, StatusCode: 400}, flexapi.Classify(label, err))

	// No label was made; the same key works once the request is fixed.
	req.Shipment.Parcels[0].Weight = 0.5
	req.Shipment.ShipTo.Address.CountryCode = "US"
	label, err = create(t, c, req)
	require.NoError(t, err)
	require.False(t, label.Replayed)

	l := srv.Ledger()
	require.Equal(t, 2, l.CallsPerKey["k-invalid"])
	require.Equal(t, 1, l.CreatedPerKey["k-invalid"])
	require.Equal(t, 1, l.StatusCounts[http.StatusBadRequest])
}

func fields(ds []flexapi.Detail) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Field
	}
	return out
}

func TestCreateLabel_Auth(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		arrange func(srv *flexapitest.Server)
		token   string
		status  int
		msg     string
	}{
		{"unknown token", func(*flexapitest.Server) {}, "tok-unknown", 401, "Unauthorized"},
		{"revoked token", func(s *flexapitest.Server) { s.Revoke(secretToken) }, secretToken, 401, "Unauthorized"},
		{"forbidden token", func(s *flexapitest.Server) { s.Forbid(secretToken) }, secretToken, 403, "Forbidden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := flexapitest.NewTestServer(t, secretToken)
			tc.arrange(srv)
			c, err := flexapi.NewClient(srv.URL(), tc.token)
			require.NoError(t, err)

			label, err := create(t, c, example(t, "k-auth"))
			require.Nil(t, label)
			var ae *flexapi.APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tc.status, ae.StatusCode)
			require.Equal(t, tc.msg, ae.Message)
			require.Equal(t, flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonAuth, StatusCode: tc.status}, flexapi.Classify(label, err))
			require.Equal(t, 1, srv.Ledger().TotalCalls)
			require.Equal(t, 0, srv.Ledger().LabelsCreated)

			srv.Restore(secretToken)
			if tc.token == secretToken {
				_, err = create(t, c, example(t, "k-auth"))
				require.NoError(t, err, "Restore undoes Revoke and Forbid")
			}
		})
	}
}

func TestCreateLabel_ShippingAccountNotFound_404(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	req := example(t, "k-noaccount")
	req.Service.ProductCode = flexapitest.NoAccountProductCode

	label, err := create(t, c, req)
	require.Nil(t, label)
	require.ErrorIs(t, err, flexapi.ErrNotFound)
	var ae *flexapi.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, "Shipping account not found", ae.Message)
	require.Equal(t, flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonNotFound, StatusCode: 404}, flexapi.Classify(label, err))
	_, stored := srv.LabelByKey("account-1", "k-noaccount")
	require.False(t, stored)
}

func TestCreateLabel_ServerError_500ThenRetrySameKey(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	srv.FailFirst(2)
	req := example(t, "k-500")

	for range 2 {
		label, err := create(t, c, req)
		require.Nil(t, label)
		var ae *flexapi.APIError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, http.StatusInternalServerError, ae.StatusCode)
		require.NotErrorIs(t, err, flexapi.ErrNotFound)
		require.Equal(t, flexapi.Decision{Class: flexapi.Transient, StatusCode: 500}, flexapi.Classify(label, err))
	}
	label, err := create(t, c, req)
	require.NoError(t, err)
	require.False(t, label.Replayed, "the 500s created nothing")

	l := srv.Ledger()
	require.Equal(t, 3, l.CallsPerKey["k-500"])
	require.Equal(t, 1, l.CreatedPerKey["k-500"])
	require.Equal(t, 2, l.StatusCounts[500])
}

func TestCreateLabel_CourierRejected_502ThenReplay200Failed(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	req := example(t, "k-reject")
	req.Service.ProductCode = flexapitest.RejectProductCode

	label, err := create(t, c, req)
	var cr *flexapi.CourierRejectedError
	require.ErrorAs(t, err, &cr)
	require.Equal(t, http.StatusBadGateway, cr.StatusCode)
	require.NotNil(t, label)
	require.Same(t, label, cr.Label)
	require.Equal(t, flexapi.StatusFailed, label.Status)
	require.Nil(t, label.CourierOrderNumber)
	require.Nil(t, label.CourierTrackingNumber)
	require.NotNil(t, label.Error)
	require.Equal(t, "COURIER_ERROR", label.Error.Code)
	require.NotEmpty(t, label.Error.Message)
	require.Contains(t, err.Error(), "COURIER_ERROR")
	require.Equal(t, flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonCourierRejected, StatusCode: 502}, flexapi.Classify(label, err))

	again, err := create(t, c, req)
	require.ErrorAs(t, err, &cr)
	require.Equal(t, http.StatusOK, cr.StatusCode)
	require.True(t, again.Replayed)
	require.Equal(t, label.ID, again.ID)
	require.Equal(t, label.Error, again.Error)
	require.Equal(t, flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonCourierRejected, StatusCode: 200}, flexapi.Classify(again, err))

	l := srv.Ledger()
	require.Equal(t, 1, l.FailedPerKey["k-reject"])
	require.Equal(t, 0, l.CreatedPerKey["k-reject"])
	require.Equal(t, 1, l.LabelsFailed)
	require.Equal(t, 0, l.LabelsCreated)
	require.Equal(t, 1, l.StatusCounts[502])
}

func TestCreateLabel_RateLimited_429(t *testing.T) {
	t.Parallel()
	cases := []struct {
		format   flexapitest.RetryAfterFormat
		min, max time.Duration
	}{
		{flexapitest.RetryAfterSeconds, 3 * time.Second, 3 * time.Second},
		{flexapitest.RetryAfterHTTPDate, 1 * time.Second, 3 * time.Second}, // whole seconds on the wire
		{flexapitest.RetryAfterNone, 1 * time.Second, 3 * time.Second},     // X-RateLimit-Reset only
	}
	for _, tc := range cases {
		t.Run(string(tc.format), func(t *testing.T) {
			t.Parallel()
			srv, c := setup(t)
			srv.SetRetryAfterFormat(tc.format)
			srv.Force429(1, 3*time.Second)

			label, err := create(t, c, example(t, "k-429"))
			require.Nil(t, label)
			var rl *flexapi.RateLimitError
			require.ErrorAs(t, err, &rl)
			require.Equal(t, http.StatusTooManyRequests, rl.StatusCode)
			require.Equal(t, "Too many requests", rl.Message)
			require.GreaterOrEqual(t, rl.RetryAfter, tc.min)
			require.LessOrEqual(t, rl.RetryAfter, tc.max)
			d := flexapi.Classify(label, err)
			require.Equal(t, flexapi.RateLimited, d.Class)
			require.Equal(t, rl.RetryAfter, d.RetryAfter)
			require.Equal(t, 429, d.StatusCode)

			_, err = create(t, c, example(t, "k-429"))
			require.NoError(t, err, "only one call was forced")
			l := srv.Ledger()
			require.Equal(t, 1, l.RateLimited)
			require.Equal(t, 2, l.CallsPerKey["k-429"])
			require.Equal(t, 1, l.CreatedPerKey["k-429"])
		})
	}
}

func TestCreateLabel_RateLimit_WithoutHint(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	srv.Force429(1, 0)
	_, err := create(t, c, example(t, "k-429-nohint"))
	var rl *flexapi.RateLimitError
	require.ErrorAs(t, err, &rl)
	require.Zero(t, rl.RetryAfter)
	require.Equal(t, "flex forward API: HTTP 429 rate limited", rl.Error())
}

func TestCreateLabel_OverRequestsPerSecond_429(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	srv.SetRateLimit(1, 2*time.Second)

	var rl *flexapi.RateLimitError
	// Two calls in one second exceed the limit; a third covers a call that
	// happened to land in the next second.
	for i := range 3 {
		_, err := create(t, c, example(t, fmt.Sprintf("k-rps-%d", i)))
		if errors.As(err, &rl) {
			break
		}
		require.NoError(t, err)
	}
	require.NotNil(t, rl, "no call was rate limited")
	require.Equal(t, 2*time.Second, rl.RetryAfter)
	require.GreaterOrEqual(t, srv.Ledger().RateLimited, 1)
}

func TestCreateLabel_Timeout_NetworkErrorAndNothingCreated(t *testing.T) {
	t.Parallel()
	srv, c := setup(t, flexapi.WithTimeout(50*time.Millisecond))
	srv.SetLatency(5 * time.Second)

	label, err := create(t, c, example(t, "k-timeout"))
	require.Nil(t, label)
	var ne *flexapi.NetworkError
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout)
	require.Equal(t, "POST /labels", ne.Op)
	require.Contains(t, err.Error(), "timeout")
	require.Equal(t, flexapi.Decision{Class: flexapi.Transient}, flexapi.Classify(label, err))

	require.Eventually(t, func() bool { return srv.Ledger().Abandoned == 1 }, 5*time.Second, 10*time.Millisecond)
	l := srv.Ledger()
	require.Equal(t, 1, l.TotalCalls)
	require.Equal(t, 0, l.LabelsCreated)

	srv.SetLatency(0)
	label, err = create(t, c, example(t, "k-timeout"))
	require.NoError(t, err)
	require.False(t, label.Replayed)
}

func TestCreateLabel_CallerDeadline_NetworkErrorTimeout(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	srv.SetLatency(5 * time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()

	_, err := c.CreateLabel(ctx, example(t, "k-deadline"))
	var ne *flexapi.NetworkError
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestCreateLabel_CallerCancel_NetworkErrorNotTimeout(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	srv.SetLatency(5 * time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(30*time.Millisecond, cancel)

	_, err := c.CreateLabel(ctx, example(t, "k-cancel"))
	var ne *flexapi.NetworkError
	require.ErrorAs(t, err, &ne)
	require.False(t, ne.Timeout)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, flexapi.Transient, flexapi.Classify(nil, err).Class)
}

func TestCreateLabel_DroppedConnection_NetworkErrorThenReplay(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	srv.DropAfterCreate(1)
	req := example(t, "k-drop")

	label, err := create(t, c, req)
	require.Nil(t, label)
	var ne *flexapi.NetworkError
	require.ErrorAs(t, err, &ne)
	require.False(t, ne.Timeout)
	require.Equal(t, flexapi.Decision{Class: flexapi.Transient}, flexapi.Classify(label, err))

	stored, ok := srv.LabelByKey("account-1", "k-drop")
	require.True(t, ok, "the label was created before the connection dropped")

	label, err = create(t, c, req)
	require.NoError(t, err)
	require.True(t, label.Replayed)
	require.Equal(t, stored.ID, label.ID)

	l := srv.Ledger()
	require.Equal(t, 2, l.TotalCalls)
	require.Equal(t, 1, l.Dropped)
	require.Equal(t, 1, l.CreatedPerKey["k-drop"])
}

// TestClient_OneHTTPAttemptPerCall checks, for every kind of outcome, that a
// call reached the server exactly once: the client never retries by itself.
func TestClient_OneHTTPAttemptPerCall(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		arrange func(*flexapitest.Server, *flexapi.LabelRequest)
	}{
		{"created", func(*flexapitest.Server, *flexapi.LabelRequest) {}},
		{"500", func(s *flexapitest.Server, _ *flexapi.LabelRequest) { s.FailFirst(5) }},
		{"dropped", func(s *flexapitest.Server, _ *flexapi.LabelRequest) { s.DropAfterCreate(5) }},
		{"429", func(s *flexapitest.Server, _ *flexapi.LabelRequest) { s.Force429(5, time.Second) }},
		{"502", func(_ *flexapitest.Server, r *flexapi.LabelRequest) {
			r.Service.ProductCode = flexapitest.RejectProductCode
		}},
		{"404", func(_ *flexapitest.Server, r *flexapi.LabelRequest) {
			r.Service.ProductCode = flexapitest.NoAccountProductCode
		}},
		{"401", func(s *flexapitest.Server, _ *flexapi.LabelRequest) { s.Revoke(secretToken) }},
		{"timeout", func(s *flexapitest.Server, _ *flexapi.LabelRequest) { s.SetLatency(time.Second) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, c := setup(t, flexapi.WithTimeout(200*time.Millisecond))
			req := example(t, "k-once")
			tc.arrange(srv, req)
			_, _ = create(t, c, req)
			l := srv.Ledger()
			require.Equal(t, 1, l.TotalCalls)
			require.Equal(t, 1, l.CallsPerKey["k-once"])
		})
	}
}

// TestClient_TokenNeverLeaks collects every error the client can return and
// every way it can be printed, and looks for the token in all of them.
func TestClient_TokenNeverLeaks(t *testing.T) {
	t.Parallel()
	srv, c := setup(t, flexapi.WithTimeout(100*time.Millisecond))
	var errs []error
	call := func(arrange func(), req *flexapi.LabelRequest) {
		srv.ClearFaults()
		srv.Restore(secretToken)
		arrange()
		_, err := create(t, c, req)
		require.Error(t, err)
		errs = append(errs, err)
	}
	bad := example(t, "k-leak-400")
	bad.Courier = ""
	reject := example(t, "k-leak-502")
	reject.Service.ProductCode = flexapitest.RejectProductCode
	call(func() {}, bad)
	call(func() { srv.Revoke(secretToken) }, example(t, "k-leak-401"))
	call(func() { srv.Forbid(secretToken) }, example(t, "k-leak-403"))
	call(func() { srv.FailFirst(1) }, example(t, "k-leak-500"))
	call(func() {}, reject)
	call(func() { srv.Force429(1, time.Second) }, example(t, "k-leak-429"))
	call(func() { srv.SetLatency(time.Second) }, example(t, "k-leak-timeout"))
	call(func() { srv.DropAfterCreate(1) }, example(t, "k-leak-drop"))
	_, err := c.GetLabel(t.Context(), "unknown")
	errs = append(errs, err)

	unreachable, err := flexapi.NewClient("http://127.0.0.1:1", secretToken)
	require.NoError(t, err)
	_, err = unreachable.GetCouriers(t.Context())
	require.Error(t, err)
	errs = append(errs, err)

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	text := slog.New(slog.NewTextHandler(&logs, nil))
	printed := []string{
		fmt.Sprint(c), fmt.Sprintf("%v|%+v|%#v|%s", c, c, c, c),
		fmt.Sprintf("%v|%+v|%#v", *c, *c, *c), // a copied value prints no token either
		c.BaseURL(),
	}
	logger.Info("client", slog.Any("client", c))
	text.Info("client", "client", c)
	for _, err := range errs {
		printed = append(printed, err.Error(), fmt.Sprintf("%v|%+v|%#v", err, err, err))
		logger.Error("call failed", slog.Any("err", err))
		text.Error("call failed", "err", err)
	}
	printed = append(printed, logs.String())
	for _, p := range printed {
		require.NotContains(t, p, secretToken)
		require.NotContains(t, p, "S3CR3T")
	}
	require.Contains(t, logs.String(), "[redacted]")
	ledgerJSON, err := json.Marshal(srv.Ledger())
	require.NoError(t, err)
	require.NotContains(t, string(ledgerJSON), secretToken)
}

func TestGetLabel_ByIDAndByOrderNumber(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	label, err := create(t, c, example(t, "k-doc"))
	require.NoError(t, err)

	for _, id := range []string{label.ID, "N-k-doc"} {
		doc, err := c.GetLabel(t.Context(), id)
		require.NoError(t, err)
		require.Equal(t, label.ID, doc.ID)
		require.Equal(t, "N-k-doc", doc.CustomerOrderNumber)
		require.Equal(t, "pdf", doc.LabelFormat)
		require.Equal(t, srv.URL()+"/documents/"+label.ID+".pdf", doc.URL)
	}

	// The document URL is fetched without the Flex Forward token.
	resp, err := http.Get(srv.URL() + "/documents/" + label.ID + ".pdf")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/pdf", resp.Header.Get("Content-Type"))
	pdf, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(pdf, []byte("%PDF-")))
	require.Contains(t, string(pdf), label.ID)
	require.Equal(t, 1, srv.Ledger().DocumentCalls)
}

func TestGetLabel_Errors(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	srv.AddToken("tok-other", "account-2")
	other, err := flexapi.NewClient(srv.URL(), "tok-other")
	require.NoError(t, err)
	theirs, err := create(t, other, example(t, "k-theirs"))
	require.NoError(t, err)
	reject := example(t, "k-failed")
	reject.Service.ProductCode = flexapitest.RejectProductCode
	failed, _ := create(t, c, reject)
	require.NotNil(t, failed)

	_, err = c.GetLabel(t.Context(), "no-such-label")
	require.ErrorIs(t, err, flexapi.ErrNotFound)
	require.Equal(t, "GET /labels/{id}", opOf(t, "no-such-label"))

	_, err = c.GetLabel(t.Context(), failed.ID)
	require.ErrorIs(t, err, flexapi.ErrNotFound, "a failed label has no document")

	_, err = c.GetLabel(t.Context(), theirs.ID)
	var ae *flexapi.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusForbidden, ae.StatusCode)
	_, err = c.GetLabel(t.Context(), "N-k-theirs")
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusForbidden, ae.StatusCode)

	before := srv.Ledger().TotalCalls
	for _, id := range []string{"", "a,b"} {
		_, err = c.GetLabel(t.Context(), id)
		require.Error(t, err)
	}
	require.Equal(t, before, srv.Ledger().TotalCalls, "bad ids are refused without a call")
}

// opOf reads the Op a NetworkError of GetLabel(id) names, from a client
// pointed at a closed port.
func opOf(t *testing.T, id string) string {
	t.Helper()
	dead, err := flexapi.NewClient("http://127.0.0.1:1", secretToken)
	require.NoError(t, err)
	_, err = dead.GetLabel(t.Context(), id)
	var ne *flexapi.NetworkError
	require.ErrorAs(t, err, &ne)
	return ne.Op
}

func TestGetLabels_BatchLeavesOutMissingAndFailed(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	a, err := create(t, c, example(t, "k-batch-a"))
	require.NoError(t, err)
	b, err := create(t, c, example(t, "k-batch-b"))
	require.NoError(t, err)
	reject := example(t, "k-batch-failed")
	reject.Service.ProductCode = flexapitest.RejectProductCode
	failed, _ := create(t, c, reject)

	docs, err := c.GetLabels(t.Context(), a.ID, "missing", failed.ID, "N-k-batch-b")
	require.NoError(t, err)
	require.Len(t, docs, 2)
	require.Equal(t, a.ID, docs[0].ID)
	require.Equal(t, b.ID, docs[1].ID)
	require.Equal(t, srv.URL()+"/documents/"+b.ID+".pdf", docs[1].URL)

	docs, err = c.GetLabels(t.Context(), a.ID)
	require.NoError(t, err)
	require.Len(t, docs, 1)

	docs, err = c.GetLabels(t.Context(), "missing")
	require.NoError(t, err)
	require.Empty(t, docs, "one unknown id is left out, not an error")

	docs, err = c.GetLabels(t.Context(), "missing-1", "missing-2")
	require.NoError(t, err)
	require.Empty(t, docs)

	docs, err = c.GetLabels(t.Context())
	require.NoError(t, err)
	require.Nil(t, docs)

	before := srv.Ledger().TotalCalls
	_, err = c.GetLabels(t.Context(), a.ID, "with,comma")
	require.Error(t, err)
	require.Equal(t, before, srv.Ledger().TotalCalls)

	srv.Revoke(secretToken)
	_, err = c.GetLabels(t.Context(), a.ID, b.ID)
	var ae *flexapi.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, 401, ae.StatusCode)
	_, err = c.GetLabels(t.Context(), a.ID)
	require.ErrorAs(t, err, &ae)
}

func TestGetTracking_SandboxPostalCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		postal string
		tag    string
	}{
		{"90001", flexapi.TagDelivered},
		{"90002", flexapi.TagException},
		{"90003", flexapi.TagInTransit},
		{"90004", flexapi.TagCancelled},
		{"08817", flexapi.TagInfoReceived},
	}
	for _, tc := range cases {
		t.Run(tc.postal, func(t *testing.T) {
			t.Parallel()
			srv, c := setup(t)
			req := example(t, "k-track")
			req.Shipment.ShipTo.Address.PostalCode = tc.postal
			label, err := create(t, c, req)
			require.NoError(t, err)
			srv.SetTrackingSpeedup(1e9) // the whole journey (96 h) within 1 ms
			time.Sleep(time.Millisecond)

			for _, id := range []string{label.ID, "N-k-track"} {
				tr, err := c.GetTracking(t.Context(), id)
				require.NoError(t, err)
				require.Equal(t, label.ID, tr.ID)
				require.Equal(t, label.CourierTrackingNumber, tr.TrackingNumber)
				require.Equal(t, tc.tag, tr.Tag)
				require.Equal(t, "yunexpress", tr.Slug)
				require.NotEmpty(t, tr.Checkpoints)
				require.Equal(t, tc.tag, tr.Checkpoints[0].Tag, "newest first")
				require.Equal(t, tr.Subtag, tr.Checkpoints[0].Subtag)
				require.Equal(t, flexapi.TagInfoReceived, tr.Checkpoints[len(tr.Checkpoints)-1].Tag, "oldest last")
				var prev time.Time
				for i, cp := range tr.Checkpoints {
					at, err := time.Parse(time.RFC3339, cp.CheckpointTime)
					require.NoError(t, err)
					if i > 0 {
						require.True(t, at.Before(prev), "checkpoints must be newest first")
					}
					prev = at
				}
			}
		})
	}
}

func TestGetTracking_FailedUnknownAndOtherAccount(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	reject := example(t, "k-track-failed")
	reject.Service.ProductCode = flexapitest.RejectProductCode
	failed, _ := create(t, c, reject)
	require.NotNil(t, failed)

	tr, err := c.GetTracking(t.Context(), failed.ID)
	require.NoError(t, err)
	require.Nil(t, tr.TrackingNumber)
	require.Equal(t, flexapi.TagException, tr.Tag)

	_, err = c.GetTracking(t.Context(), "no-such-id")
	require.ErrorIs(t, err, flexapi.ErrNotFound)
	_, err = c.GetTracking(t.Context(), "")
	require.Error(t, err)

	srv.AddToken("tok-other", "account-2")
	other, err := flexapi.NewClient(srv.URL(), "tok-other")
	require.NoError(t, err)
	_, err = other.GetTracking(t.Context(), failed.ID)
	var ae *flexapi.APIError
	require.ErrorAs(t, err, &ae)
	require.Equal(t, http.StatusForbidden, ae.StatusCode)
}

func TestGetTracking_UnknownTagsBecomeUnknown(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.EscapedPath() != "/tracking/a%2Fb" {
			http.Error(w, `{"error":"wrong path `+r.URL.EscapedPath()+`"}`, http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, `{"id":"x","trackingNumber":"T1","tag":"Teleported","subtag":"","subtagMessage":"","slug":"yunexpress",
			"checkpoints":[{"tag":"Teleported"},{"tag":"InTransit"}],"newField":true}`)
	}))
	t.Cleanup(ts.Close)
	c, err := flexapi.NewClient(ts.URL, secretToken)
	require.NoError(t, err)
	tr, err := c.GetTracking(t.Context(), "a/b")
	require.NoError(t, err)
	require.Equal(t, flexapi.TagUnknown, tr.Tag)
	require.Equal(t, flexapi.TagUnknown, tr.Checkpoints[0].Tag)
	require.Equal(t, flexapi.TagInTransit, tr.Checkpoints[1].Tag)
}

func TestGetProductsAndCouriers(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)

	raw, err := c.GetProducts(t.Context(), "yunexpress", "en")
	require.NoError(t, err)
	var products struct {
		Products []struct{ Code string } `json:"products"`
	}
	require.NoError(t, json.Unmarshal(raw, &products))
	require.NotEmpty(t, products.Products)
	require.Equal(t, "HKMUZXR", products.Products[0].Code)

	_, err = c.GetProducts(t.Context(), "", "")
	require.Error(t, err)

	couriers, err := c.GetCouriers(t.Context())
	require.NoError(t, err)
	require.Equal(t, []flexapi.Courier{{Code: "yunexpress", Name: "YunExpress"}}, couriers)
	require.Equal(t, 2, srv.Ledger().TotalCalls)

	srv.Revoke(secretToken)
	_, err = c.GetProducts(t.Context(), "yunexpress", "")
	require.ErrorAs(t, err, new(*flexapi.APIError))
	_, err = c.GetCouriers(t.Context())
	require.ErrorAs(t, err, new(*flexapi.APIError))
}

// TestClient_ResponseShapes serves answers the fake never gives, to check
// the client tolerates every documented (and some undocumented) shape.
func TestClient_ResponseShapes(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		resp = map[string]func(http.ResponseWriter){}
	)
	serve := func(path string, fn func(http.ResponseWriter)) {
		mu.Lock()
		defer mu.Unlock()
		resp[path] = fn
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fn := resp[r.URL.Path]
		mu.Unlock()
		fn(w)
	}))
	t.Cleanup(ts.Close)
	c, err := flexapi.NewClient(ts.URL+"/", secretToken)
	require.NoError(t, err)
	reply := func(status int, headers map[string]string, body string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			for k, v := range headers {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}

	t.Run("couriers wrapped", func(t *testing.T) {
		serve("/couriers", reply(200, nil, `{"couriers":[{"code":"yunexpress"}]}`))
		got, err := c.GetCouriers(t.Context())
		require.NoError(t, err)
		require.Equal(t, []flexapi.Courier{{Code: "yunexpress"}}, got)
	})
	t.Run("couriers under data", func(t *testing.T) {
		serve("/couriers", reply(200, nil, `{"data":[{"code":"yunexpress","name":"Y"}]}`))
		got, err := c.GetCouriers(t.Context())
		require.NoError(t, err)
		require.Equal(t, []flexapi.Courier{{Code: "yunexpress", Name: "Y"}}, got)
	})
	t.Run("couriers unreadable", func(t *testing.T) {
		serve("/couriers", reply(200, nil, `"nope"`))
		_, err := c.GetCouriers(t.Context())
		require.ErrorContains(t, err, "unexpected body")
	})
	t.Run("truncated 2xx is a network error", func(t *testing.T) {
		serve("/labels", reply(201, nil, `{"id":"x","status":"crea`))
		_, err := c.CreateLabel(t.Context(), example(t, "k"))
		var ne *flexapi.NetworkError
		require.ErrorAs(t, err, &ne)
		require.Equal(t, flexapi.Transient, flexapi.Classify(nil, err).Class)
	})
	t.Run("failed label as 201", func(t *testing.T) {
		serve("/labels", reply(201, nil, `{"id":"x","status":"failed","courierOrderNumber":null,"courierTrackingNumber":null,"error":{"code":"COURIER_ERROR","message":"no"}}`))
		label, err := c.CreateLabel(t.Context(), example(t, "k"))
		var cr *flexapi.CourierRejectedError
		require.ErrorAs(t, err, &cr)
		require.Equal(t, 201, cr.StatusCode)
		require.False(t, label.Replayed)
		require.Equal(t, flexapi.ReasonCourierRejected, flexapi.Classify(label, err).Reason)
	})
	t.Run("502 without a label is transient", func(t *testing.T) {
		serve("/labels", reply(502, nil, `{"error":"Bad gateway"}`))
		_, err := c.CreateLabel(t.Context(), example(t, "k"))
		var ae *flexapi.APIError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, "Bad gateway", ae.Message)
		require.Equal(t, flexapi.Decision{Class: flexapi.Transient, StatusCode: 502}, flexapi.Classify(nil, err))
	})
	t.Run("error object", func(t *testing.T) {
		serve("/labels", reply(409, nil, `{"error":{"code":"CONFLICT","message":"key reused"}}`))
		_, err := c.CreateLabel(t.Context(), example(t, "k"))
		var ae *flexapi.APIError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, "CONFLICT key reused", ae.Message)
		require.Equal(t, flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonRejected, StatusCode: 409}, flexapi.Classify(nil, err))
	})
	t.Run("message field", func(t *testing.T) {
		serve("/labels", reply(422, nil, `{"message":"unprocessable"}`))
		_, err := c.CreateLabel(t.Context(), example(t, "k"))
		require.EqualError(t, err, "flex forward API: HTTP 422: unprocessable")
	})
	t.Run("plain text error", func(t *testing.T) {
		serve("/labels", reply(503, nil, "upstream "+strings.Repeat("x", 300)))
		_, err := c.CreateLabel(t.Context(), example(t, "k"))
		var ae *flexapi.APIError
		require.ErrorAs(t, err, &ae)
		require.True(t, strings.HasPrefix(ae.Message, "upstream x"))
		require.Less(t, len(ae.Message), 220, "long bodies are cut")
	})
	t.Run("empty error body", func(t *testing.T) {
		serve("/labels", reply(500, nil, ``))
		_, err := c.CreateLabel(t.Context(), example(t, "k"))
		require.EqualError(t, err, "flex forward API: HTTP 500: Internal Server Error")
	})
	t.Run("408 is transient", func(t *testing.T) {
		serve("/labels", reply(408, nil, `{"error":"timeout"}`))
		_, err := c.CreateLabel(t.Context(), example(t, "k"))
		require.Equal(t, flexapi.Decision{Class: flexapi.Transient, StatusCode: 408}, flexapi.Classify(nil, err))
	})
	t.Run("429 with X-RateLimit-Reset seconds", func(t *testing.T) {
		serve("/labels", reply(429, map[string]string{"X-RateLimit-Reset": "7"}, `{"error":"slow down"}`))
		_, err := c.CreateLabel(t.Context(), example(t, "k"))
		var rl *flexapi.RateLimitError
		require.ErrorAs(t, err, &rl)
		require.Equal(t, 7*time.Second, rl.RetryAfter)
		require.Equal(t, "slow down", rl.Message)
		require.Contains(t, rl.Error(), "retry after 7s")
	})
	t.Run("429 with a past HTTP date", func(t *testing.T) {
		past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
		serve("/labels", reply(429, map[string]string{"Retry-After": past}, ``))
		_, err := c.CreateLabel(t.Context(), example(t, "k"))
		var rl *flexapi.RateLimitError
		require.ErrorAs(t, err, &rl)
		require.Zero(t, rl.RetryAfter)
	})
	t.Run("validation details with an empty field", func(t *testing.T) {
		serve("/labels", reply(400, nil, `{"error":"Validation failed","details":[{"field":"","message":"not valid JSON"},{"field":"courier","message":"is required"}]}`))
		_, err := c.CreateLabel(t.Context(), example(t, "k"))
		require.EqualError(t, err, "flex forward API: HTTP 400: Validation failed (not valid JSON; courier: is required)")
	})
}

func TestNewClient(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url string
		ok  bool
	}{
		{"https://api.flexforwardship.com", true},
		{"https://api.flexforwardship.com/", true},
		{"http://127.0.0.1:8090", true},
		{"http://localhost:8090", true},
		{"http://api.localhost", true},
		{"http://[::1]:8090", true},
		{"http://api.flexforwardship.com", false},
		{"http://10.0.0.1:8090", false},
		{"http://example.com.127.0.0.1.nip.io", false},
		{"ftp://api.flexforwardship.com", false},
		{"api.flexforwardship.com", false},
		{"https://", false},
		{"://bad", false},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			c, err := flexapi.NewClient(tc.url, secretToken)
			if !tc.ok {
				require.Error(t, err)
				require.Nil(t, c)
				require.NotContains(t, err.Error(), secretToken)
				return
			}
			require.NoError(t, err)
			require.False(t, strings.HasSuffix(c.BaseURL(), "/"))
		})
	}
	_, err := flexapi.NewClient("https://api.flexforwardship.com", "")
	require.Error(t, err)
}

// Concurrent calls reuse their connections: a second wave of as many
// concurrent calls as the first opens no new connection (net/http's default
// transport keeps only two idle ones, and would open eighteen).
func TestClient_KeepsConnectionsForConcurrentCalls(t *testing.T) {
	t.Parallel()
	fake := flexapitest.New(flexapitest.WithToken(secretToken, "acct"))
	const concurrent = 20
	// Each wave's calls are held until all of them have arrived, so they
	// overlap however slowly the machine starts them: the first wave
	// opens one connection per call (a latency alone let a loaded
	// machine's late starters reuse an early one's connection, and the
	// second wave then opened the connections the first had not).
	var gmu sync.Mutex
	arrived, gate := 0, make(chan struct{})
	barrier := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gmu.Lock()
		g := gate
		if arrived++; arrived%concurrent == 0 {
			close(gate)
			gate = make(chan struct{})
		}
		gmu.Unlock()
		select {
		case <-g:
		case <-time.After(10 * time.Second): // the counts below then say what went wrong
		}
		fake.ServeHTTP(w, r)
	})
	srv := httptest.NewUnstartedServer(barrier)
	var mu sync.Mutex
	opened := 0
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			opened++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := flexapi.NewClient(srv.URL, secretToken)
	require.NoError(t, err)
	wave := func() {
		var wg sync.WaitGroup
		errs := make([]error, concurrent)
		for i := range concurrent {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = c.GetLabels(context.Background(), fmt.Sprintf("id-%d", i))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "call %d", i)
		}
	}
	wave()
	mu.Lock()
	first := opened
	mu.Unlock()
	require.Equal(t, concurrent, first, "one connection per call of the first wave")
	wave()
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, first, opened, "the second wave opened new connections")
}

func TestNewClient_WithHTTPClient(t *testing.T) {
	t.Parallel()
	srv := flexapitest.NewTestServer(t, secretToken)
	var used bool
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used = true
		return http.DefaultTransport.RoundTrip(r)
	})}
	c, err := flexapi.NewClient(srv.URL(), secretToken, flexapi.WithHTTPClient(hc), flexapi.WithTimeout(0))
	require.NoError(t, err)
	_, err = c.GetCouriers(t.Context())
	require.NoError(t, err)
	require.True(t, used)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestBaseURLFor(t *testing.T) {
	t.Parallel()
	for env, want := range map[string]string{"": flexapi.ProductionURL, "production": flexapi.ProductionURL, "staging": flexapi.StagingURL} {
		got, err := flexapi.BaseURLFor(env)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := flexapi.BaseURLFor("sandbox")
	require.Error(t, err)
}
