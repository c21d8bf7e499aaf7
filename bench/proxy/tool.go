package main

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Body sizes of the tool server's two pages.
const (
	smallSize = 1 << 10
	largeSize = 10 << 20
)

// serveTool runs the tool server on 127.0.0.1:port until the process is
// signalled: the workload of the benchmark's workspace. Paths are matched
// by their last element, so the tool answers the same under any prefix
// (proxies forward /ws/{project}/{workspace}/{tool}/... unchanged).
func serveTool(port string) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: toolHandler(), ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(l)
}

// toolHandler serves GET .../small (1 KiB), GET .../large (10 MiB) and a
// WebSocket echo at .../echo.
func toolHandler() http.Handler {
	small := bytesOf(smallSize)
	large := bytesOf(largeSize)
	send := func(w http.ResponseWriter, body []byte) {
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasSuffix(p, "/small"):
			send(w, small)
		case strings.HasSuffix(p, "/large"):
			send(w, large)
		case strings.HasSuffix(p, "/echo"):
			echo(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

func bytesOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// echo sends every WebSocket message back as it came.
func echo(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	ctx := context.Background()
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}
