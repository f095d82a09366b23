package main

import (
	"context"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// miniredis is for dev alone: no other file of the binary imports it, so
// worker and serve cannot come to depend on it.
func TestMiniredis_OnlyDevRedisImportsIt(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var importers []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range parsed.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); strings.Contains(p, "miniredis") {
				importers = append(importers, f)
			}
		}
	}
	require.Equal(t, []string{"devredis.go"}, importers)
}

func TestStartDevRedis_ServesUntilStopped(t *testing.T) {
	t.Parallel()
	url, stop, err := startDevRedis(context.Background())
	require.NoError(t, err)
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	require.NoError(t, rdb.Set(context.Background(), "k", "v", 0).Err())
	stop() // returns once the clock goroutine is gone
	require.Error(t, rdb.Ping(context.Background()).Err(), "the in-process Redis still answers after stop")
}
