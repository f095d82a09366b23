package flexapi

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// benchRequest is a typical producer request (the API docs' example).
var benchRequest = []byte(`{"idempotencyKey":"ord-20260527-0001","courier":"yunexpress","service":{"productCode":"HKMUZXR"},` +
	`"label":{"format":"PDF"},"units":{"weight":"KG","dimension":"CM"},` +
	`"order":{"customerOrderNumber":"N-1","orderNumbers":{"platformOrderNumber":"P-1","referenceNumbers":["R-1"]}},` +
	`"shipment":{"shipTo":{"contact":{"firstName":"Alex","lastName":"Smith","phone":"8554377467","email":"alex@example.com"},` +
	`"address":{"streetLines":["18 Distribution Blvd"],"city":"Edison","state":"NJ","postalCode":"08817","countryCode":"US"}},` +
	`"shipFrom":{"contact":{"firstName":"John","lastName":"Doe","phone":"886900676877"},` +
	`"address":{"streetLines":["Habucho"],"city":"Kishiwada-Shi","state":"Osaka","postalCode":"596-0825","countryCode":"JP"}},` +
	`"parcels":[{"weight":0.5,"dimension":{"length":30,"width":20,"height":10},` +
	`"items":[{"descriptionEn":"Ink pen","descriptionLocal":"文具","quantity":1,"unitPrice":{"amount":29.99,"currency":"USD"},"unitWeight":0.5}]}]}}`)

// BenchmarkDecode measures, in one run and interleaved, the fast path
// (go-json), the same strict decode with encoding/json (the baseline go-json
// has to beat to earn its place; see docs/PERFORMANCE.md) and the full
// check, and prints the ratios. Each enqueued line takes the fast path once.
func BenchmarkDecode(b *testing.B) {
	if _, ok := decodeFast(benchRequest); !ok {
		b.Fatal("the fast path refused the benchmark request")
	}
	var fast, std, full time.Duration
	n := 0
	for b.Loop() {
		t0 := time.Now()
		decodeFast(benchRequest)
		t1 := time.Now()
		dec := json.NewDecoder(bytes.NewReader(benchRequest))
		dec.DisallowUnknownFields()
		if err := dec.Decode(new(LabelRequest)); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if _, d := decodeFull(benchRequest); len(d) > 0 {
			b.Fatal(d)
		}
		fast, std, full = fast+t1.Sub(t0), std+t2.Sub(t1), full+time.Since(t2)
		n++
	}
	us := func(d time.Duration) float64 { return d.Seconds() * 1e6 / float64(n) }
	b.ReportMetric(us(fast), "fast_µs")
	b.ReportMetric(us(std), "encoding_json_µs")
	b.ReportMetric(us(full), "full_µs")
	b.ReportMetric(float64(std)/float64(fast), "encoding_json/fast")
	b.Logf("per request: fast path (go-json) %.1f µs, encoding/json %.1f µs (%.2fx), full check %.1f µs (%.2fx)",
		us(fast), us(std), float64(std)/float64(fast), us(full), float64(full)/float64(fast))
}
