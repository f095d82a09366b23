package main

import (
	"github.com/spf13/cobra"
)

func (a *app) fakeapiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "fakeapi",
		Short: "Run a fake Flex Forward API for development and tests",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return nil
		},
	}
}
