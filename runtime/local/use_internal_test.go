package local

import "testing"

// A /proc stat line whose command name holds spaces and parentheses (the
// workload chooses it) is read from after the last ')'.
func TestParseStat(t *testing.T) {
	line := "4242 (evil) 1 2 3 (x) R 4000 4100 4000 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 1 0 12345 1000000 300 18446744073709551615\n"
	pgid, cpu, rss, ok := parseStat([]byte(line))
	if !ok || pgid != 4100 || cpu != 3.5 || rss != 300*pageSize {
		t.Fatalf("parseStat = %d, %v s, %d bytes, %v; want 4100, 3.5 s, %d bytes", pgid, cpu, rss, ok, 300*pageSize)
	}
	if _, _, _, ok := parseStat([]byte("4242 (short) R 1 2")); ok {
		t.Fatal("a truncated line was read")
	}
}
