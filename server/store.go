package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/labspace/labspace/store/sqlstore"
)

// openStore opens PostgreSQL when cfg.Database names one, else the SQLite
// file in the data dir.
func openStore(ctx context.Context, cfg Config) (*sqlstore.DB, error) {
	if cfg.Database != "" {
		return sqlstore.OpenPostgres(ctx, cfg.Database, 0)
	}
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "labspace.db"))
	if err != nil {
		return nil, err
	}
	// The database holds password hashes and sealed credentials: labspace's
	// alone, whatever the umask (SQLite gives its -wal and -shm the
	// database file's mode).
	for _, f := range []string{"labspace.db", "labspace.db-wal", "labspace.db-shm"} {
		if err := os.Chmod(filepath.Join(cfg.DataDir, f), 0o600); err != nil && !os.IsNotExist(err) {
			db.Close()
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	return db, nil
}

// oneLocalReplica refuses a second replica on the local runtime: its
// workspaces are processes of the host the leader runs on, which the other
// replicas' proxies cannot reach. Several replicas need Kubernetes.
func oneLocalReplica(ctx context.Context, cfg Config, db *sqlstore.DB) error {
	if cfg.Database == "" || cfg.Kubeconfig != "" || cfg.InCluster {
		return nil
	}
	release, ok := db.TryLead(ctx)
	if !ok {
		return fmt.Errorf("another labspace serves this database with the local runtime, whose workspaces are processes " +
			"of that one host: run one replica, or run labspace on Kubernetes (--kubeconfig or --in-cluster) for several")
	}
	release()
	return nil
}
