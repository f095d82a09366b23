package main

import (
	"context"
	"io"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/flexapi"
)

// app carries what every subcommand needs: the injected environment and streams.
type app struct {
	env    map[string]string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// account is --account of the command that runs (accountFlag), and
	// accountUse how openQueue takes it: 0 the command has no such flag,
	// accountRead any account name, accountWrite one the fleet runs.
	account    string
	accountUse int
}

// run is the whole program behind main: everything testable lives below it.
func run(ctx context.Context, args []string, env map[string]string, stdin io.Reader, stdout, stderr io.Writer) error {
	a := &app{env: env, stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

// rootCmd builds the command tree.
func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "flexlabel",
		Short:         "Turn shipping orders into Flex Forward labels exactly once",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		a.versionCmd(),
		a.workerCmd(),
		a.fakeapiCmd(),
		a.enqueueCmd(),
		a.statusCmd(),
		a.trackCmd(),
		a.dlqCmd(),
		a.bulkCmd(),
		a.devCmd(),
		a.serveCmd(),
		a.doctorCmd(),
		a.webhooksCmd(),
	)
	addFlagCompletions(root)
	return root
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi, _ := debug.ReadBuildInfo()
			_, err := io.WriteString(a.stdout, "flexlabel "+versionString(flexapi.Version, bi)+"\n")
			return err
		},
	}
}

// versionString is the version `make build` stamped into flexapi.Version,
// or, in a binary built without it (go install, go build, go run), the
// module version and VCS revision Go recorded in the build info.
func versionString(stamped string, bi *debug.BuildInfo) string {
	if stamped != "dev" || bi == nil {
		return stamped
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	// Go 1.24+ derives a pseudo-version from the commit, which already
	// names the revision.
	if rev != "" && !strings.Contains(v, rev[:min(12, len(rev))]) {
		v += " " + rev
		if modified == "true" {
			v += " (modified)"
		}
	}
	return v
}
