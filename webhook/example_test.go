package webhook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/flexlabel/flexlabel/webhook"
)

// A receiver's handler: verify, drop duplicates by id, ignore an event
// older (by sequence) than one already applied for the same key, answer
// 2xx quickly. A failed verification gets 400, so flexlabel records the
// failure without retrying; a 5xx or a timeout is retried.
func Example_receiver() {
	secret := "whsec_example" // the secret shown once when the endpoint was created

	var (
		mu      sync.Mutex
		seenIDs = map[string]bool{}  // in production: a table with a unique id
		applied = map[string]int64{} // highest sequence applied per idempotency key
	)
	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := webhook.VerifyRequest(r, secret, webhook.DefaultTolerance)
		if err != nil {
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		var ev webhook.Event
		var label struct {
			IdempotencyKey string `json:"idempotencyKey"`
			State          string `json:"state"`
		}
		if json.Unmarshal(body, &ev) != nil || json.Unmarshal(ev.Data, &label) != nil {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case seenIDs[ev.ID]:
			fmt.Println("duplicate", ev.ID)
		case ev.Sequence <= applied[label.IdempotencyKey]:
			fmt.Println("stale", ev.ID)
		default:
			applied[label.IdempotencyKey] = ev.Sequence
			fmt.Println(ev.Type, label.IdempotencyKey, label.State)
		}
		seenIDs[ev.ID] = true
		w.WriteHeader(http.StatusNoContent)
	}

	srv := httptest.NewServer(http.HandlerFunc(handler))
	defer srv.Close()
	deliver := func(body, signature string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		req.Header.Set(webhook.SignatureHeader, signature)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(" ->", resp.StatusCode)
	}
	dead := `{"id":"evt_2","type":"label.dead","createdAt":"2026-12-02T13:00:05Z","apiVersion":"v1","sequence":2,` +
		`"data":{"idempotencyKey":"order-1001","state":"dead"}}`
	redriven := `{"id":"evt_1","type":"label.redriven","createdAt":"2026-12-02T13:00:00Z","apiVersion":"v1","sequence":1,` +
		`"data":{"idempotencyKey":"order-1001","state":"queued"}}`
	now := time.Now()
	deliver(dead, webhook.Sign([]byte(dead), now, secret))
	deliver(dead, webhook.Sign([]byte(dead), now, secret))         // redelivered
	deliver(redriven, webhook.Sign([]byte(redriven), now, secret)) // arrives late
	deliver(dead, webhook.Sign([]byte(dead), now, "whsec_forged"))
	// Output:
	// label.dead order-1001 dead
	//  -> 204
	// duplicate evt_2
	//  -> 204
	// stale evt_1
	//  -> 204
	//  -> 400
}

// Verify's errors tell a receiver what went wrong: only ErrTooOld and
// ErrTooNew come from a genuine signature (check the clock).
func ExampleVerify() {
	secret := "whsec_example"
	body := []byte(`{"id":"evt_1"}`)
	signedAt := time.Unix(1_800_000_000, 0)
	header := webhook.Sign(body, signedAt, secret)

	for _, c := range []struct {
		header string
		secret string
		now    time.Time
	}{
		{header, secret, signedAt.Add(time.Minute)},
		{header, secret, signedAt.Add(time.Hour)},
		{header, "whsec_other", signedAt},
		{"t=yesterday", secret, signedAt},
		{"", secret, signedAt},
	} {
		err := webhook.Verify(c.header, body, c.secret, webhook.DefaultTolerance, c.now)
		switch {
		case err == nil:
			fmt.Println("ok")
		case errors.Is(err, webhook.ErrTooOld), errors.Is(err, webhook.ErrTooNew):
			fmt.Println("genuine but outside the window:", err)
		case errors.Is(err, webhook.ErrNoMatch):
			fmt.Println("not signed with this secret")
		case errors.Is(err, webhook.ErrMalformed):
			fmt.Println("malformed header")
		case errors.Is(err, webhook.ErrNoSignature):
			fmt.Println("no signature header")
		}
	}
	// Output:
	// ok
	// genuine but outside the window: webhook: signature timestamp is older than the tolerance (5m0s, signed 1h0m0s ago)
	// not signed with this secret
	// malformed header
	// no signature header
}

// Sign makes the header value; during a rotation it is given both secrets.
func ExampleSign() {
	body := []byte(`{"id":"evt_1"}`)
	fmt.Println(webhook.Sign(body, time.Unix(1_800_000_000, 0), "whsec_example"))
	// Output:
	// t=1800000000,v1=0407ae4b7b9b423bd900b6323efe149daf738bbc002167b147ade91d2729a911
}

// CheckURL is applied when a subscription is created or changed.
func ExampleCheckURL() {
	for _, u := range []string{
		"https://orders.example.com/hooks/flexlabel",
		"http://127.0.0.1:8080/hooks",
		"http://orders.example.com/hooks",
		"https://169.254.169.254/latest/meta-data",
	} {
		fmt.Println(u, webhook.CheckURL(u, false))
	}
	// Output:
	// https://orders.example.com/hooks/flexlabel <nil>
	// http://127.0.0.1:8080/hooks <nil>
	// http://orders.example.com/hooks url: uses plain http to a non-loopback host; use https
	// https://169.254.169.254/latest/meta-data url: is an internal address (private, link-local, CGNAT, multicast or unspecified)
}

// How the delivery worker sends one event: sign the exact bytes it posts,
// send with the guarded client, keep a bounded piece of the answer.
func ExampleNewClient() {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := webhook.VerifyRequest(r, "whsec_example", 0); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		io.WriteString(w, strings.Repeat("thanks ", 1000))
	}))
	defer receiver.Close()

	client := webhook.NewClient(webhook.ClientOptions{Timeout: 10 * time.Second})
	body := []byte(`{"id":"evt_1","type":"label.completed"}`)
	req, _ := http.NewRequest(http.MethodPost, receiver.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.SignatureHeader, webhook.Sign(body, time.Now(), "whsec_example"))
	resp, err := client.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	logged, truncated, _ := webhook.ReadLimited(resp.Body, 0)
	fmt.Println(resp.StatusCode, len(logged), truncated)
	// Output:
	// 200 4096 true
}
