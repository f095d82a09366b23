package main

// The in-process Redis of `flexlabel dev`, the one place the binary uses
// miniredis. Only dev calls it; worker and serve never reach it. It is linked
// into the binary all the same, since dev is a subcommand of that binary (a
// build tag would break `go run ./cmd/flexlabel dev`).

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// startDevRedis starts an in-process Redis on a loopback port and returns
// its URL and the func that stops it. Its clock follows the wall clock until
// ctx ends.
func startDevRedis(ctx context.Context) (url string, stop func(), err error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.StartAddr("127.0.0.1:0"); err != nil {
		return "", nil, fmt.Errorf("starting the in-process Redis: %w", err)
	}
	tickCtx, stopTick := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tickMiniredis(tickCtx, mr)
	}()
	return "redis://" + mr.Addr() + "/0", func() { stopTick(); <-done; mr.Close() }, nil
}

// tickMiniredis advances miniredis's clock for TTLs, which it does not
// expire on its own (the fleet pause and result retention rely on them).
func tickMiniredis(ctx context.Context, mr *miniredis.Miniredis) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			mr.FastForward(now.Sub(last))
			last = now
		}
	}
}
