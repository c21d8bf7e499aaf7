package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// wsResult is the spread of WebSocket echo round trips.
type wsResult struct {
	p50, p99 time.Duration
	n        int
}

// wsWarmup round trips are made before measuring.
const wsWarmup = 200

// echoRoundTrips opens a WebSocket to url (http:// or https://) and
// measures n sequential echo round trips of a 64-byte message.
func echoRoundTrips(ctx context.Context, url, auth string, n int) (wsResult, error) {
	url = "ws" + strings.TrimPrefix(url, "http")
	opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
	if auth != "" {
		opts.HTTPHeader.Set("Authorization", auth)
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, url, opts)
	if err != nil {
		return wsResult{}, fmt.Errorf("dial %s: %w", url, err)
	}
	defer c.CloseNow()
	msg := bytes.Repeat([]byte("0123456789abcdef"), 4)
	rtts := make([]time.Duration, 0, n)
	for i := 0; i < wsWarmup+n; i++ {
		start := time.Now()
		if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
			return wsResult{}, err
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			return wsResult{}, err
		}
		if i >= wsWarmup {
			rtts = append(rtts, time.Since(start))
		}
		if !bytes.Equal(got, msg) {
			return wsResult{}, fmt.Errorf("echo %s: got %d bytes back, not the message", url, len(got))
		}
	}
	_ = c.Close(websocket.StatusNormalClosure, "")
	slices.Sort(rtts)
	return wsResult{p50: percentile(rtts, 50), p99: percentile(rtts, 99), n: n}, nil
}

// percentile returns the p-th percentile of sorted (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
