package service

import (
	"sync"
	"time"

	"github.com/labspace/labspace"
)

// throttle slows down password guessing (S7). Failures are counted per
// account and address together, per address alone (one address trying
// many accounts), and per account alone (many addresses, one account);
// past each key's allowance, sign-ins with that key are refused for a
// delay that doubles with each failure up to a cap, without checking the
// password. A real user signing in from elsewhere meets only the
// per-account key, whose allowance is large and whose cap is short, so an
// attacker cannot lock them out for long. Success clears the account's
// keys. One server's memory: replicas count apart.
type throttle struct {
	mu   sync.Mutex
	keys map[string]*strikes
}

type strikes struct {
	fails int
	until time.Time // refused until then
	last  time.Time
}

// allowance: failures before delays start, and the longest delay.
type allowance struct {
	free int
	max  time.Duration
}

var (
	perAccountAndAddress = allowance{free: 5, max: time.Minute}
	perAddress           = allowance{free: 20, max: 5 * time.Minute}
	perAccount           = allowance{free: 50, max: 30 * time.Second}
)

// strikesForget is how long a key is remembered after its last failure.
const strikesForget = 15 * time.Minute

func (t *throttle) keysOf(account, addr string) map[string]allowance {
	return map[string]allowance{"a:" + account + "\x00" + addr: perAccountAndAddress, "s:" + addr: perAddress, "u:" + account: perAccount}
}

// wait returns how long the caller must wait before trying again (0: now).
func (t *throttle) wait(now time.Time, account, addr string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var d time.Duration
	for k := range t.keysOf(account, addr) {
		if s := t.keys[k]; s != nil && s.until.After(now) {
			d = max(d, s.until.Sub(now))
		}
	}
	return d
}

// fail records a failure; it returns the failures of the account at this
// address, and whether a key just started refusing.
func (t *throttle) fail(now time.Time, account, addr string) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keys == nil {
		t.keys = map[string]*strikes{}
	}
	for k, s := range t.keys {
		if now.Sub(s.last) > strikesForget {
			delete(t.keys, k)
		}
	}
	started, fails := false, 0
	for k, a := range t.keysOf(account, addr) {
		s := t.keys[k]
		if s == nil {
			s = &strikes{}
			t.keys[k] = s
		}
		s.fails++
		s.last = now
		if k[0] == 'a' {
			fails = s.fails
		}
		if over := s.fails - a.free; over > 0 {
			d := min(time.Second<<min(over-1, 20), a.max)
			s.until = now.Add(d)
			started = started || over == 1
		}
	}
	return fails, started
}

// succeed forgets the account's failures (not the address's).
func (t *throttle) succeed(account, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.keys, "a:"+account+"\x00"+addr)
	delete(t.keys, "u:"+account)
}

// tooMany is the answer while a key refuses.
func tooMany(d time.Duration) error {
	secs := int((d + time.Second - 1) / time.Second)
	return &labspace.Error{Code: labspace.ETOOMANY, RetryAfter: secs,
		Message: "Too many failed sign-ins: try again in " + itoa(secs) + " s."}
}
