package main

import "github.com/spf13/cobra"

func (c *cli) bundleCmds() []*cobra.Command { return nil }
