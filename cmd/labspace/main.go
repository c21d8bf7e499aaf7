// Command labspace is the labspace server and, later, its command-line client.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/labspace/labspace/server"
	"github.com/spf13/cobra"
)

func main() {
	if err := root().Execute(); err != nil {
		os.Exit(1)
	}
}

func root() *cobra.Command {
	cmd := &cobra.Command{
		Use:          "labspace",
		Short:        "Workspaces for AI research teams",
		SilenceUsage: true,
	}
	cmd.AddCommand(serveCmd())
	return cmd
}

func serveCmd() *cobra.Command {
	cfg := server.Config{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the labspace server (web UI, REST API)",
		Example: `  labspace serve
  labspace serve --addr 0.0.0.0:8080 --data-dir /var/lib/labspace
  LABSPACE_ADMIN_PASSWORD=s3cret-pass labspace serve`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.AdminPassword = os.Getenv("LABSPACE_ADMIN_PASSWORD")
			if cfg.SecretKey == "" {
				cfg.SecretKey = os.Getenv("LABSPACE_SECRET_KEY")
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			return serve(cmd.Context(), cfg)
		},
	}
	cmd.Flags().StringVar(&cfg.DataDir, "data-dir", "labspace-data", "directory for the SQLite database and the secret key")
	cmd.Flags().StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().StringVar(&cfg.SecretKey, "secret-key", "", "64 hex digits sealing credentials at rest (default: $LABSPACE_SECRET_KEY, else a key file in --data-dir)")
	return cmd
}

func serve(ctx context.Context, cfg server.Config) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := server.Open(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("labspace is serving at %s (data in %s)\n", s.URL(), cfg.DataDir)
	switch {
	case s.AdminPassword != "" && cfg.AdminPassword == "":
		fmt.Printf("Sign in as admin with password %s (shown once: keep it).\n", s.AdminPassword)
	case s.AdminPassword != "":
		fmt.Println("Sign in as admin with the password from LABSPACE_ADMIN_PASSWORD.")
	default:
		fmt.Println("Sign in as admin with the password set at the first start.")
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Close(shutdown)
}
