package worker_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func readAllAndRestore(r *http.Request) (string, error) {
	b, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	return string(b), err
}

// procCPU is the CPU time this process has used.
func procCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuPer divides CPU time over n items.
func cpuPer(n int, d ...time.Duration) time.Duration {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(n)
}

// instantAPI serves the Flex Forward API at no cost worth measuring: a
// minimal HTTP/1.1 responder on loopback that answers POST /labels with a
// canned created label and anything else with an empty label list. It stands
// in for a remote API whose CPU is not this machine's, which net/http's server
// (as heavy per request as the client) would not.
func instantAPI(tb testing.TB) string { return instantAPIServing(tb, false) }

// instantAPIWithDocuments is instantAPI whose labels each have an id of
// their own and a document: GET /labels/{ids} answers a URL for each, so
// the worker stores every label's document URL, as against the real API.
func instantAPIWithDocuments(tb testing.TB) string { return instantAPIServing(tb, true) }

func instantAPIServing(tb testing.TB, documents bool) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	const created = `{"id":"7d3c0f0e-0000-4000-8000-000000000001","status":"created","courier":"yunexpress","courierOrderNumber":"YT1","courierTrackingNumber":"YT1CN","error":null}`
	const list = `{"labels":[]}`
	resp := func(status, body string) []byte {
		return []byte("HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	}
	createdResp, listResp := resp("201 Created", created), resp("200 OK", list)
	var nextID atomic.Int64
	answer := func(post bool, path []byte) []byte {
		switch {
		case !documents && post:
			return createdResp
		case !documents:
			return listResp
		case post:
			id := "lbl-" + strconv.FormatInt(nextID.Add(1), 10)
			return resp("201 Created", strings.Replace(created, "7d3c0f0e-0000-4000-8000-000000000001", id, 1))
		}
		ids := strings.Split(strings.TrimPrefix(string(path), "/labels/"), ",")
		docs := make([]string, len(ids))
		for i, id := range ids {
			docs[i] = `{"id":"` + id + `","url":"https://docs.example/` + id + `.pdf"}`
		}
		if len(ids) == 1 {
			return resp("200 OK", docs[0])
		}
		return resp("200 OK", `{"labels":[`+strings.Join(docs, ",")+`]}`)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReaderSize(c, 16<<10)
				for {
					line, err := r.ReadSlice('\n')
					if err != nil {
						return
					}
					post := bytes.HasPrefix(line, []byte("POST "))
					var path []byte
					if f := bytes.Fields(line); len(f) >= 2 {
						path = append(path, f[1]...)
					}
					n := 0
					for {
						h, err := r.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(h) <= 2 {
							break
						}
						if len(h) > 16 && bytes.EqualFold(h[:15], []byte("Content-Length:")) {
							n, _ = strconv.Atoi(string(bytes.TrimSpace(h[15:])))
						}
					}
					if _, err := r.Discard(n); err != nil {
						return
					}
					if _, err := c.Write(answer(post, path)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}
