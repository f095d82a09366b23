package main

import (
	"github.com/spf13/cobra"

	"github.com/flexlabel/flexlabel/config"
)

func (a *app) workerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Process label jobs: call Flex Forward, retry what is transient, dead-letter what is not",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Parse(a.env)
			if err != nil {
				return err
			}
			if err := cfg.RequireToken(); err != nil {
				return err
			}
			return nil
		},
	}
}
