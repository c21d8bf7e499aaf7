// Command labspace is the labspace server (`labspace serve`) and its
// command-line client: every other verb talks to a server's REST API.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/labspace/labspace/client"
	"github.com/spf13/cobra"
)

// Exit codes scripts can rely on.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := root()
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(cmd.ErrOrStderr(), "Error:", err)
	var u usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	var apiErr *client.Error
	if errors.As(err, &apiErr) && apiErr.Status == 400 {
		return exitUsage // the request was malformed: a usage problem too
	}
	return exitError
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ error }

func usageErr(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exactArgs is cobra.ExactArgs reporting a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr("%s takes %d argument(s), got %d (see --help)", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}

func root() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "labspace",
		Short:         "Workspaces for AI research teams",
		Long:          "labspace serves workspaces (an image, tools, GPUs, data) to research teams.\nRun `labspace serve` for the server; every other command is a client of a server's API.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	// An unknown command is a usage error (exit 2), as it is under the
	// groups; plain `labspace` shows the help.
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageErr("unknown command %q for %q (see --help)", args[0], c.CommandPath())
		}
		return c.Help()
	}
	cmd.AddCommand(serveCmd(), migrateCmd(), loginCmd(), logoutCmd(), whoamiCmd(), workspaceCmd(), applyCmd())
	for _, k := range assetKinds {
		cmd.AddCommand(assetCmd(k))
	}
	return cmd
}

// groupCmd makes a command that only holds subcommands refuse unknown ones
// (exit 2) instead of printing help and succeeding.
func groupCmd(cmd *cobra.Command) {
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usageErr("unknown command %q for %q (see --help)", args[0], c.CommandPath())
		}
		_ = c.Help()
		return usageErr("%s needs a subcommand", c.CommandPath())
	}
}
