package server

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/labspace/labspace/store"
	"golang.org/x/sys/unix"
)

// reserveSize is the room kept aside on the data volume for the day it
// fills up (S9): enough for an administrator to sign in and stop what
// filled it.
const reserveSize = 8 << 20

// reserved is the store with room set aside: a file of reserveSize in the
// data dir, given back the first time a write finds the disk full, after
// which that write is tried once more. The next start sets it aside again.
type reserved struct {
	store.Store
	path string
	log  *slog.Logger
	once sync.Once
}

// withReserve sets the room aside (where the file system can allocate it
// up front) and returns the store that uses it.
func withReserve(s store.Store, path string, log *slog.Logger) store.Store {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		err = unix.Fallocate(int(f.Fd()), 0, 0, reserveSize)
		f.Close()
	}
	if err != nil {
		log.Warn("no room set aside for a full disk", "file", path, "err", err)
		os.Remove(path)
		return s
	}
	return &reserved{Store: s, path: path, log: log}
}

func (r *reserved) Update(ctx context.Context, fn func(store.Tx) error) error {
	err := r.Store.Update(ctx, fn)
	if err == nil || !diskFull(err) {
		return err
	}
	released := false
	r.once.Do(func() { released = os.Remove(r.path) == nil })
	if !released {
		return err
	}
	r.log.Error("the data volume is full: labspace gave back the room it kept aside, so that an administrator can sign in and stop what filled it", "err", err)
	return r.Store.Update(ctx, fn)
}

func diskFull(err error) bool {
	s := err.Error()
	return strings.Contains(s, "disk is full") || strings.Contains(s, "no space left")
}

// freeSpace is what the data volume has left for labspace.
func freeSpace(dir string) (uint64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}
