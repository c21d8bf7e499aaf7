package sqlstore

import (
	"path/filepath"
	"testing"
)

// The readers keep a large page cache, the writer SQLite's default; both
// read through the memory map.
func TestPageCaches(t *testing.T) {
	db, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "odd ?#% name.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pragma := func(pool string, name string) int64 {
		p := db.reader
		if pool == "writer" {
			p = db.writer
		}
		var v int64
		if err := p.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v); err != nil {
			t.Fatalf("%s: PRAGMA %s: %v", pool, name, err)
		}
		return v
	}
	if got := pragma("reader", "cache_size"); got != -65536 {
		t.Errorf("reader cache_size %d, want -65536", got)
	}
	if got := pragma("writer", "cache_size"); got != -2000 {
		t.Errorf("writer cache_size %d, want -2000", got)
	}
	for _, pool := range []string{"reader", "writer"} {
		if got := pragma(pool, "mmap_size"); got != 1<<30 {
			t.Errorf("%s mmap_size %d, want 1 GiB", pool, got)
		}
	}
}
