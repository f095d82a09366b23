package main

import (
	"bytes"
	"context"
	"os/exec"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/flexlabel/flexlabel/queue"
)

// TestBinary_AsAPersonUsesIt runs the built binary, where go-redis's own
// logger and the build info are what they are for a user.
func TestBinary_AsAPersonUsesIt(t *testing.T) {
	t.Parallel()
	bin := buildFlexlabel(t) // go build without -ldflags, as go install does
	runBin := func(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		require.NoError(t, ctx.Err(), "flexlabel %v did not exit", args)
		code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return o.String(), e.String(), code
	}

	t.Run("Redis unreachable: one line on stderr", func(t *testing.T) {
		t.Parallel()
		addr := freeAddr(t) // nothing listens there
		env := []string{"REDIS_URL=redis://" + addr + "/0"}
		for _, args := range [][]string{{"status", "k1"}, {"dlq", "list"}, {"enqueue", "-"}} {
			stdout, stderr, code := runBin(t, env, args...)
			require.Equal(t, 2, code, "%v: %s", args, stderr)
			require.Empty(t, stdout)
			require.Equal(t, 1, strings.Count(stderr, "\n"), "%v: want exactly one line, got:\n%s", args, stderr)
			require.True(t, strings.HasPrefix(stderr, "flexlabel: redis at "+addr+": "), "%v: %s", args, stderr)
		}
	})

	t.Run("version without make reports the build info", func(t *testing.T) {
		t.Parallel()
		stdout, stderr, code := runBin(t, nil, "version")
		require.Equal(t, 0, code, stderr)
		require.NotEqual(t, "flexlabel dev\n", stdout)
		require.Regexp(t, `^flexlabel (\(devel\)|v\S+)( [0-9a-f]{7,40}( \(modified\))?)?\n$`, stdout)
	})

	t.Run("enqueue --json is gone", func(t *testing.T) {
		t.Parallel()
		_, stderr, code := runBin(t, nil, "enqueue", "--json")
		require.Equal(t, 2, code)
		require.Contains(t, stderr, "unknown flag: --json")
	})
}

func TestVersionString(t *testing.T) {
	t.Parallel()
	bi := func(version string, settings ...string) *debug.BuildInfo {
		b := &debug.BuildInfo{Main: debug.Module{Path: "github.com/flexlabel/flexlabel", Version: version}}
		for i := 0; i+1 < len(settings); i += 2 {
			b.Settings = append(b.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return b
	}
	const rev = "4f1c2a9d8e7b6a5c4d3e2f1a0b9c8d7e6f5a4b3c"
	tests := []struct {
		name    string
		stamped string
		bi      *debug.BuildInfo
		want    string
	}{
		{"make build stamps it", "v1.4.0-3-gabc1234", bi("(devel)", "vcs.revision", rev), "v1.4.0-3-gabc1234"},
		{"go install module@version", "dev", bi("v1.4.0"), "v1.4.0"},
		{"go build in a checkout", "dev", bi("(devel)", "vcs.revision", rev, "vcs.modified", "false"), "(devel) " + rev},
		{"go build with changes", "dev", bi("(devel)", "vcs.revision", rev, "vcs.modified", "true"), "(devel) " + rev + " (modified)"},
		{"pseudo-version names the revision", "dev", bi("v0.0.0-20261202063000-4f1c2a9d8e7b+dirty", "vcs.revision", rev), "v0.0.0-20261202063000-4f1c2a9d8e7b+dirty"},
		{"go run without VCS", "dev", bi("(devel)"), "(devel)"},
		{"no build info", "dev", nil, "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, versionString(tt.stamped, tt.bi))
		})
	}
}

// complete asks the command tree for completions as the shell scripts do.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{cobra.ShellCompRequestCmd}, args...), nil, strings.NewReader(""), &out, &errb)
	require.NoError(t, err, errb.String())
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.NotEmpty(t, got)
	require.Equal(t, ":4", got[len(got)-1], "directive: no file completion")
	return got[:len(got)-1]
}

func TestCompletion_FlagValues_EverywhereTheFlagExists(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"reason": queue.ReasonNames(),
		"format": {"csv", "ndjson"},
		"queue":  {"bulk", "interactive"},
	}
	// Walk the real tree, so a command someone adds with one of these flags
	// is checked too.
	root := (&app{}).rootCmd()
	found := map[string]int{}
	var walk func(path []string, c *cobra.Command)
	walk = func(path []string, c *cobra.Command) {
		for name, values := range want {
			if name == "reason" && c.CommandPath() == "flexlabel webhooks disable" {
				continue // free text there, not a dead-letter reason
			}
			if c.LocalFlags().Lookup(name) != nil {
				found[name]++
				args := append(slices.Clone(path), "--"+name, "")
				require.Equal(t, values, complete(t, args...), "flexlabel %v", args)
			}
		}
		for _, sub := range c.Commands() {
			walk(append(slices.Clone(path), sub.Name()), sub)
		}
	}
	for _, c := range root.Commands() {
		walk([]string{c.Name()}, c)
	}
	for name := range want {
		require.NotZero(t, found[name], "no command has --%s", name)
	}
}

func TestCompletion_Scripts(t *testing.T) {
	t.Parallel()
	for shell, marker := range map[string]string{
		"bash": "# bash completion V2 for flexlabel",
		"zsh":  "#compdef flexlabel",
		"fish": "# fish completion for flexlabel",
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), []string{"completion", shell}, nil, strings.NewReader(""), &out, &errb)
		require.NoError(t, err, errb.String())
		require.True(t, strings.HasPrefix(out.String(), marker), "%s: %.80q", shell, out.String())
	}
}
