// Package pgtest runs a throwaway PostgreSQL cluster for tests: initdb and
// pg_ctl from Debian's postgresql package (or LABSPACE_PG_BIN) in a
// temporary folder, on a free port of 127.0.0.1, never a mock. Without
// PostgreSQL a test skips saying how to get it; in CI (CI set) it fails.
package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Cluster is a running PostgreSQL server.
type Cluster struct {
	// URL reaches its "postgres" database as the superuser labspace.
	URL  string
	Port int
	dir  string
	bin  string
	cred *syscall.Credential
}

// Bin is the folder of PostgreSQL's programs: LABSPACE_PG_BIN, else the
// newest Debian cluster's, else initdb's on PATH ("" when none).
func Bin() string {
	if b := os.Getenv("LABSPACE_PG_BIN"); b != "" {
		return b
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Strings(found)
	if len(found) > 0 {
		return filepath.Dir(found[len(found)-1])
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	return ""
}

// Start runs a cluster until the test ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	b := Bin()
	if b == "" {
		msg := "PostgreSQL is not installed: apt-get install postgresql (or set LABSPACE_PG_BIN to the folder of initdb and pg_ctl)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	c := &Cluster{bin: b}
	// PostgreSQL refuses to run as root: as root, the cluster runs as the
	// postgres account (or nobody) in a folder of its own.
	dir, err := os.MkdirTemp("", "labspace-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		c.cred = Account()
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	c.Port = freePort(t)
	c.run(t, "initdb", "-D", filepath.Join(dir, "data"), "-U", "labspace", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	c.run(t, "pg_ctl", "-D", filepath.Join(dir, "data"), "-l", filepath.Join(dir, "log"), "-w", "-t", "60", "start", "-o", c.options())
	t.Cleanup(func() { c.Stop(t) })
	c.URL = fmt.Sprintf("postgres://labspace@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
	return c
}

// Stop stops the server at once (a crash, for the data on disk).
func (c *Cluster) Stop(t testing.TB) {
	c.pgctl(t, "stop", "-m", "immediate")
}

// Resume starts a stopped server again on the same port.
func (c *Cluster) Resume(t testing.TB) { c.pgctl(t, "start") }

// Restart stops the server and starts it again on the same port.
func (c *Cluster) Restart(t testing.TB, down time.Duration) {
	t.Helper()
	c.Stop(t)
	time.Sleep(down)
	c.pgctl(t, "start")
}

func (c *Cluster) pgctl(t testing.TB, args ...string) {
	cmd := append([]string{"-D", filepath.Join(c.dir, "data"), "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60"}, args...)
	if args[0] == "start" {
		cmd = append(cmd, "-o", c.options())
	}
	c.run(t, "pg_ctl", cmd...)
}

// options are the server's settings. fsync and full page writes guard
// against the machine crashing, which a test does not do: off, for speed.
// synchronous_commit stays on: Stop kills the server, and an asynchronous
// commit acknowledged just before would be lost, which no PostgreSQL
// configured for production does (a lost stop came back as a start, and
// the failover test failed under load).
func (c *Cluster) options() string {
	return fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200", c.Port, c.dir)
}

var seq atomic.Int64

// Database makes a new empty database and returns its URL.
func (c *Cluster) Database(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), seq.Add(1))
	c.run(t, "psql", "-h", "127.0.0.1", "-p", strconv.Itoa(c.Port), "-U", "labspace", "-d", "postgres", "-q", "-v", "ON_ERROR_STOP=1",
		"-c", "CREATE DATABASE "+name)
	return fmt.Sprintf("postgres://labspace@127.0.0.1:%d/%s?sslmode=disable", c.Port, name)
}

func (c *Cluster) run(t testing.TB, prog string, args ...string) {
	t.Helper()
	name := filepath.Join(c.bin, prog)
	if _, err := os.Stat(name); err != nil {
		name = prog // psql lives in /usr/bin on Debian
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		t.Fatalf("%s %v: %v\n%s\n%s", prog, args, err, out, log)
	}
}

// Account is who runs PostgreSQL when the caller is root (which
// PostgreSQL refuses to run as): the postgres account, or nobody.
func Account() *syscall.Credential {
	for _, name := range []string{"postgres", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
		}
	}
	return &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
