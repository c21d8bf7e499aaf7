package local_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The sandbox is this binary under another name: started so by hand, in
// the host's namespaces, it refuses before touching any mount.
func TestSandboxRefusesOutsideItsNamespaces(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile("/proc/self/mounts")
	home := t.TempDir()
	cmd := &exec.Cmd{Path: self, Args: []string{"labspace-sandbox", "true"},
		Env: []string{`LABSPACE_SANDBOX={"home":"` + home + `","tmp":"` + home + `","hide":["` + home + `"],"dir":"/","mode":"uids","uid":900999,"gid":900999,"exit":"exit"}`}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "only as PID 1 of a new PID namespace") {
		t.Errorf("the sandbox by hand: %v: %s", err, out)
	}
	if after, _ := os.ReadFile("/proc/self/mounts"); string(after) != string(before) {
		t.Errorf("the host's mounts changed:\n%s", after)
	}
}
