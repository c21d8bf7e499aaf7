package sqlstore

// migrations are applied in order, each once; their index+1 is the version.
// Times are Unix nanoseconds, so that ordering and paging are exact on
// every database. The same statements run on SQLite and PostgreSQL, with
// {{serial}} and {{blob}} filled in by the dialect.
var migrations = []string{
	`CREATE TABLE objects (
		id TEXT PRIMARY KEY,
		kind TEXT NOT NULL,
		name TEXT NOT NULL,
		scope_type TEXT NOT NULL,
		scope_name TEXT NOT NULL,
		rv BIGINT NOT NULL,
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL,
		created_by TEXT NOT NULL,
		phase TEXT NOT NULL,
		subject TEXT NOT NULL,
		data TEXT NOT NULL,
		secret {{blob}}
	);
	CREATE UNIQUE INDEX objects_name ON objects (kind, scope_type, scope_name, name);
	CREATE INDEX objects_created ON objects (kind, scope_type, scope_name, created_at, id);
	CREATE INDEX objects_kind_created ON objects (kind, created_at, id);
	CREATE INDEX objects_subject ON objects (kind, subject);
	CREATE TABLE refs (
		from_id TEXT NOT NULL,
		to_id TEXT NOT NULL,
		PRIMARY KEY (from_id, to_id)
	);
	CREATE INDEX refs_to ON refs (to_id);
	CREATE TABLE events (
		id {{serial}},
		workspace_id TEXT NOT NULL,
		at BIGINT NOT NULL,
		type TEXT NOT NULL,
		from_phase TEXT NOT NULL,
		to_phase TEXT NOT NULL,
		reason TEXT NOT NULL,
		message TEXT NOT NULL,
		actor TEXT NOT NULL
	);
	CREATE INDEX events_workspace ON events (workspace_id, id);
	CREATE TABLE audit (
		id {{serial}},
		at BIGINT NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		kind TEXT NOT NULL,
		object_id TEXT NOT NULL,
		object_name TEXT NOT NULL,
		scope TEXT NOT NULL,
		source TEXT NOT NULL
	);
	CREATE INDEX audit_actor ON audit (actor, id);
	CREATE INDEX audit_object ON audit (object_id, id);
	CREATE TABLE tokens (
		id TEXT PRIMARY KEY,
		hash TEXT NOT NULL UNIQUE,
		subject TEXT NOT NULL,
		kind TEXT NOT NULL,
		name TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL
	);
	CREATE INDEX tokens_subject ON tokens (subject);`,
	// The lifecycle controller sums admitted workspaces by phase.
	`CREATE INDEX objects_phase ON objects (kind, phase)`,
	// The shape data was written in (store.Record.Format): lists send a
	// document of today's shape as it is stored. Rows from before have none.
	`ALTER TABLE objects ADD COLUMN data_format TEXT NOT NULL DEFAULT ''`,
	// The controller's resync lists the workspaces of each active phase in
	// creation order, every 5 seconds: on (kind, phase) alone SQLite walked
	// every workspace by creation time instead, 7 times a resync (a third of
	// a second of CPU at 100,000 workspaces). Sums by phase still use it.
	`DROP INDEX objects_phase;
	CREATE INDEX objects_phase ON objects (kind, phase, created_at, id)`,
	// The grid sorts workspaces by how long they have been idle: running
	// ones by their last activity, the rest after them. Until its next
	// save, a running workspace counts as active when it was last saved.
	`ALTER TABLE objects ADD COLUMN active_at BIGINT NOT NULL DEFAULT 9223372036854775807;
	UPDATE objects SET active_at = updated_at WHERE kind = 'workspace' AND phase = 'Running';
	CREATE INDEX objects_active ON objects (kind, scope_type, scope_name, active_at, id);
	CREATE INDEX objects_kind_active ON objects (kind, active_at, id)`,
}
