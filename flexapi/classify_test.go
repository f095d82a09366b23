package flexapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/flexapi"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	created := &flexapi.Label{ID: "x", Status: flexapi.StatusCreated}
	failed := &flexapi.Label{ID: "x", Status: flexapi.StatusFailed}
	apiErr := func(status int) error { return &flexapi.APIError{StatusCode: status, Message: "m"} }
	cases := []struct {
		name  string
		label *flexapi.Label
		err   error
		want  flexapi.Decision
	}{
		{"created", created, nil, flexapi.Decision{Class: flexapi.Created, StatusCode: 201}},
		{"replayed", &flexapi.Label{Status: flexapi.StatusCreated, Replayed: true}, nil, flexapi.Decision{Class: flexapi.Created, StatusCode: 200}},
		{"courier rejected 502", failed, &flexapi.CourierRejectedError{StatusCode: 502, Label: failed}, flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonCourierRejected, StatusCode: 502}},
		{"rate limited", nil, &flexapi.RateLimitError{StatusCode: 429, RetryAfter: 2 * time.Second}, flexapi.Decision{Class: flexapi.RateLimited, StatusCode: 429, RetryAfter: 2 * time.Second}},
		{"400", nil, apiErr(400), flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonInvalid, StatusCode: 400}},
		{"401", nil, apiErr(401), flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonAuth, StatusCode: 401}},
		{"403", nil, apiErr(403), flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonAuth, StatusCode: 403}},
		{"404", nil, apiErr(404), flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonNotFound, StatusCode: 404}},
		{"405", nil, apiErr(405), flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonRejected, StatusCode: 405}},
		{"408", nil, apiErr(408), flexapi.Decision{Class: flexapi.Transient, StatusCode: 408}},
		{"409", nil, apiErr(409), flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonRejected, StatusCode: 409}},
		{"422", nil, apiErr(422), flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonRejected, StatusCode: 422}},
		{"500", nil, apiErr(500), flexapi.Decision{Class: flexapi.Transient, StatusCode: 500}},
		{"502 without label", nil, apiErr(502), flexapi.Decision{Class: flexapi.Transient, StatusCode: 502}},
		{"503", nil, apiErr(503), flexapi.Decision{Class: flexapi.Transient, StatusCode: 503}},
		{"unexpected 3xx", nil, apiErr(304), flexapi.Decision{Class: flexapi.Transient, StatusCode: 304}},
		{"wrapped 401", nil, fmt.Errorf("creating label: %w", apiErr(401)), flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonAuth, StatusCode: 401}},
		{"refused before sending", nil, &flexapi.ValidationError{Details: []flexapi.Detail{{Field: "courier", Message: "is required"}}}, flexapi.Decision{Class: flexapi.Permanent, Reason: flexapi.ReasonInvalid}},
		{"network", nil, &flexapi.NetworkError{Op: "POST /labels", Err: io.ErrUnexpectedEOF}, flexapi.Decision{Class: flexapi.Transient}},
		{"timeout", nil, &flexapi.NetworkError{Op: "POST /labels", Timeout: true, Err: context.DeadlineExceeded}, flexapi.Decision{Class: flexapi.Transient}},
		{"deadline", nil, context.DeadlineExceeded, flexapi.Decision{Class: flexapi.Transient}},
		{"canceled", nil, context.Canceled, flexapi.Decision{Class: flexapi.Transient}},
		{"anything else", nil, errors.New("boom"), flexapi.Decision{Class: flexapi.Transient}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, flexapi.Classify(tc.label, tc.err))
		})
	}
}

func TestClass_String(t *testing.T) {
	t.Parallel()
	for c, want := range map[flexapi.Class]string{
		flexapi.Created:     "created",
		flexapi.Transient:   "transient",
		flexapi.RateLimited: "rate_limited",
		flexapi.Permanent:   "permanent",
		flexapi.Class(99):   "unknown",
	} {
		require.Equal(t, want, c.String())
	}
}

func TestErrors_Messages(t *testing.T) {
	t.Parallel()
	require.EqualError(t, &flexapi.APIError{StatusCode: 401, Message: "Unauthorized"}, "flex forward API: HTTP 401: Unauthorized")
	require.EqualError(t, &flexapi.APIError{StatusCode: 500}, "flex forward API: HTTP 500")
	require.EqualError(t, &flexapi.APIError{StatusCode: 400, Message: "Validation failed", Details: []flexapi.Detail{
		{Field: "courier", Message: "is required"},
		{Field: "shipment.parcels[0].weight", Message: "must be greater than 0"},
	}}, "flex forward API: HTTP 400: Validation failed (courier: is required; shipment.parcels[0].weight: must be greater than 0)")

	require.ErrorIs(t, &flexapi.APIError{StatusCode: 404}, flexapi.ErrNotFound)
	require.NotErrorIs(t, &flexapi.APIError{StatusCode: 410}, flexapi.ErrNotFound)
	require.NotErrorIs(t, &flexapi.APIError{StatusCode: 404}, io.EOF)

	require.EqualError(t, &flexapi.RateLimitError{StatusCode: 429, RetryAfter: 1500 * time.Millisecond}, "flex forward API: HTTP 429 rate limited, retry after 1.5s")
	require.EqualError(t, &flexapi.CourierRejectedError{StatusCode: 502}, "flex forward API: HTTP 502 courier rejected the label")
	require.EqualError(t, &flexapi.CourierRejectedError{StatusCode: 200, Label: &flexapi.Label{Error: &flexapi.LabelError{Code: "COURIER_ERROR", Message: "bad address"}}},
		"flex forward API: HTTP 200 courier rejected the label: COURIER_ERROR bad address")

	ne := &flexapi.NetworkError{Op: "GET /couriers", Err: io.ErrUnexpectedEOF}
	require.EqualError(t, ne, "flex forward API: GET /couriers network error: unexpected EOF")
	require.ErrorIs(t, ne, io.ErrUnexpectedEOF)
	ne.Timeout = true
	require.EqualError(t, ne, "flex forward API: GET /couriers timeout: unexpected EOF")
}
