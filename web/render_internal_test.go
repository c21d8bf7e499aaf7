package web

import "testing"

// Memory is written as people read it (issue 15): no "0.0Gi" or "64.0Gi".
func TestMemoryForPeople(t *testing.T) {
	for b, want := range map[int64]string{0: "0", 64 << 20: "64Mi", 32 << 30: "32Gi", 3 << 29: "1.5Gi", 1536 << 10: "1.5Mi"} {
		if got := memoryFor(b); got != want {
			t.Errorf("memoryFor(%d) = %q, want %q", b, got, want)
		}
	}
}
