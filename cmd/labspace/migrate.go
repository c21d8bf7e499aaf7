package main

import (
	"fmt"
	"os"

	"github.com/labspace/labspace/store/sqlstore"
	"github.com/spf13/cobra"
)

func migrateCmd() *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Copy an installation's SQLite database into an empty PostgreSQL database",
		Long: "Copies every object, event, audit entry and token from a stopped server's SQLite file into PostgreSQL, in one\n" +
			"transaction. Sealed credentials move as they are: run the server on PostgreSQL with the same secret key\n" +
			"(--secret-key, LABSPACE_SECRET_KEY, or the data dir's key file).",
		Example: "  labspace migrate --from labspace-data/labspace.db --to postgres://labspace@db.example.org/labspace",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" || to == "" {
				return usageErr("--from and --to are required")
			}
			if _, err := os.Stat(from); err != nil {
				return fmt.Errorf("--from: %w", err) // OpenSQLite would make an empty one
			}
			src, err := sqlstore.OpenSQLite(cmd.Context(), from)
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := sqlstore.OpenPostgres(cmd.Context(), to, 4)
			if err != nil {
				return err
			}
			defer dst.Close()
			counts, err := sqlstore.Copy(cmd.Context(), src, dst)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Copied %d objects, %d references, %d events, %d audit entries and %d tokens.\n",
				counts["objects"], counts["refs"], counts["events"], counts["audit"], counts["tokens"])
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the SQLite file (labspace.db in the data dir of a stopped server)")
	cmd.Flags().StringVar(&to, "to", "", "the PostgreSQL URL (postgres://...)")
	return cmd
}
