package main

import (
	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/queue"
)

// flagValues are the values shell completion offers for a flag, by flag
// name, wherever a command has that flag. cobra's own `completion
// bash|zsh|fish|powershell` command writes the scripts that ask for them.
var flagValues = map[string][]string{
	"reason": queue.ReasonNames(),
	"format": {"csv", "ndjson"},
	"queue":  {"bulk", "interactive"},
}

// addFlagCompletions registers flagValues on every command of the tree that
// has such a flag, after the tree is built, so the commands themselves need
// not know about completion. A command that registered its own completion
// for a flag keeps it.
func addFlagCompletions(root *cobra.Command) {
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		for name, values := range flagValues {
			if cmd.LocalFlags().Lookup(name) == nil {
				continue
			}
			if _, taken := cmd.GetFlagCompletionFunc(name); taken {
				continue
			}
			_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
		}
		for _, c := range cmd.Commands() {
			walk(c)
		}
	}
	walk(root)
}
