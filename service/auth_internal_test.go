package service

import (
	"testing"

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
