package local

import (
	"net"
	"strconv"
	"testing"
)

// Tool ports are below the kernel's ephemeral range, never handed out
// twice in a row, and never one that something listens on.
func TestToolPorts(t *testing.T) {
	var p ports
	seen := map[int]bool{}
	for i := 0; i < 200; i++ {
		port, err := p.take()
		if err != nil {
			t.Fatal(err)
		}
		if port < firstToolPort || port >= firstToolPort+toolPorts {
			t.Fatalf("port %d outside %d-%d", port, firstToolPort, firstToolPort+toolPorts-1)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
		if i == 0 {
			// Something else takes the first one; it must not come back.
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			delete(p.recent, port)
		}
	}
}
