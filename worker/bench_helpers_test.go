package worker_test

import (
	"bytes"
	"io"
	"net/http"
)

func readAllAndRestore(r *http.Request) (string, error) {
	b, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	return string(b), err
}
