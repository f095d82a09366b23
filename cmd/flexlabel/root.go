package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/flexapi"
)

// app carries what every subcommand needs: the injected environment and streams.
type app struct {
	env    map[string]string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// run is the whole program behind main: everything testable lives below it.
func run(ctx context.Context, args []string, env map[string]string, stdin io.Reader, stdout, stderr io.Writer) error {
	a := &app{env: env, stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "flexlabel",
		Short:         "Turn shipping orders into Flex Forward labels exactly once",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		a.versionCmd(),
		a.workerCmd(),
		a.fakeapiCmd(),
		a.enqueueCmd(),
		a.statusCmd(),
		a.dlqCmd(),
		a.bulkCmd(),
		a.devCmd(),
		a.serveCmd(),
	)
	return root.ExecuteContext(ctx)
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := io.WriteString(a.stdout, "flexlabel "+flexapi.Version+"\n")
			return err
		},
	}
}
