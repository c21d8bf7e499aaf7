package service

import (
	"testing"
	"time"

	"github.com/labspace/labspace"

	"golang.org/x/crypto/bcrypt"
)

// S7: an unknown user's sign-in compares a hash of the same cost as real
// users' (before, the dummy had the minimum cost: 1.6 ms against 200 ms
// told who exists).
func TestDummyHashCostsWhatARealOneDoes(t *testing.T) {
	for _, cost := range []int{4, 10} {
		s := New(Options{BcryptCost: cost})
		if got, err := bcrypt.Cost(s.dummyHash); err != nil || got != cost {
			t.Errorf("cost %d: the dummy hash costs %d (%v)", cost, got, err)
		}
	}
}

// S7: past five failures from one address, an account's sign-ins there
// wait, longer each time up to a minute; another address is not held up
// until the account's own, larger allowance runs out, whose delay stays
// short; a success clears the account.
func TestThrottle(t *testing.T) {
	var th throttle
	now := time.Unix(1_000_000, 0)
	for i := 0; i < perAccountAndAddress.free; i++ {
		th.fail(now, "bob", "10.0.0.1")
	}
	if d := th.wait(now, "bob", "10.0.0.1"); d != 0 {
		t.Fatalf("after the free failures: wait %v", d)
	}
	_, started := th.fail(now, "bob", "10.0.0.1")
	if d := th.wait(now, "bob", "10.0.0.1"); !started || d != time.Second {
		t.Errorf("the sixth failure: wait %v (started %v), want 1s", d, started)
	}
	for i := 0; i < 10; i++ {
		th.fail(now, "bob", "10.0.0.1")
	}
	if d := th.wait(now, "bob", "10.0.0.1"); d != perAccountAndAddress.max {
		t.Errorf("after many: wait %v, want the cap %v", d, perAccountAndAddress.max)
	}
	if d := th.wait(now, "bob", "10.0.0.2"); d != 0 {
		t.Errorf("bob from another address: wait %v", d)
	}
	for i := 0; i < perAccount.free; i++ {
		th.fail(now, "bob", "10.9.0."+itoa(i))
	}
	if d := th.wait(now, "bob", "10.0.0.3"); d == 0 || d > perAccount.max {
		t.Errorf("bob after failures from %d addresses: wait %v, want at most %v", perAccount.free, d, perAccount.max)
	}
	th.succeed("bob", "10.0.0.3")
	if d := th.wait(now, "bob", "10.0.0.3"); d != 0 {
		t.Errorf("after a success: wait %v", d)
	}
	// One address trying many accounts.
	for i := 0; i <= perAddress.free; i++ {
		th.fail(now, "user"+itoa(i), "10.6.6.6")
	}
	if d := th.wait(now, "someone-else", "10.6.6.6"); d == 0 {
		t.Error("an address that tried many accounts is not held up")
	}
	// Forgotten after a quiet while.
	if _, _ = th.fail(now.Add(strikesForget+time.Second), "x", "y"); th.wait(now.Add(strikesForget+time.Second), "bob", "10.0.0.1") != 0 {
		t.Error("old failures are never forgotten")
	}
}

// Which changes empty which caches: workspace changes leave callers'
// grants cached (they emptied them many times a second under load), and
// reach the proxy's decisions; a change of access reaches both; a building
// block neither.
func TestCacheGenerations(t *testing.T) {
	s := New(Options{BcryptCost: 4})
	a, tools := s.accessGen.Load(), s.toolGen.Load()
	s.workspacesChanged()
	if s.accessGen.Load() != a || s.toolGen.Load() == tools {
		t.Error("a workspace change: the actor cache emptied, or the tool cache kept")
	}
	a, tools = s.accessGen.Load(), s.toolGen.Load()
	s.changed(labspace.KindEnvironment)
	if s.accessGen.Load() != a || s.toolGen.Load() != tools {
		t.Error("an environment change emptied a cache")
	}
	for _, k := range []labspace.Kind{labspace.KindAccessRule, labspace.KindUser, labspace.KindGroup, labspace.KindProject, labspace.KindDepartment} {
		a, tools = s.accessGen.Load(), s.toolGen.Load()
		s.changed(k)
		if s.accessGen.Load() == a || s.toolGen.Load() == tools {
			t.Errorf("a %s change left a cache", k)
		}
	}
}
