package controller

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/runtime"
)

// Jupyter kernels as a sign of use: a notebook computing for hours sends
// no traffic through the proxy, but its kernel is busy. The controller
// reads each Jupyter tool's kernels (with the workspace's tool token) when
// a rule counts them, at most every kernelPoll per workspace.

const kernelPoll = 5 * time.Second

// kernelReader reads Jupyter tools' kernels.
type kernelReader struct {
	key    []byte
	client *http.Client
	mu     sync.Mutex
	last   map[string]time.Time // workspace id -> last read
}

func newKernelReader(key []byte) *kernelReader {
	return &kernelReader{key: key, client: &http.Client{Timeout: 3 * time.Second}, last: map[string]time.Time{}}
}

// due reports whether w's kernels are to be read now, and notes it.
func (k *kernelReader) due(id string, now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now.Sub(k.last[id]) < kernelPoll {
		return false
	}
	k.last[id] = now
	return true
}

// forget drops what is kept of a workspace that stopped running.
func (k *kernelReader) forget(id string) {
	k.mu.Lock()
	delete(k.last, id)
	k.mu.Unlock()
}

// activity returns when w's Jupyter kernels were last active: now when one
// is busy, else the newest last_activity; zero when there is none to read.
func (k *kernelReader) activity(ctx context.Context, w *labspace.Workspace, target func(tool string) (string, bool), now time.Time) time.Time {
	var newest time.Time
	for _, t := range w.Spec.Environment.Spec.Tools {
		if !strings.HasPrefix(string(t.Type), "jupyter") {
			continue
		}
		addr, ok := target(t.Name)
		if !ok {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(addr, "/")+runtime.BasePath(w, t.Name)+"api/kernels", nil)
		if err != nil {
			continue
		}
		req.Header.Set("Authorization", "token "+runtime.ToolToken(k.key, w.ID))
		res, err := k.client.Do(req)
		if err != nil {
			continue
		}
		var kernels []struct {
			LastActivity   time.Time `json:"last_activity"`
			ExecutionState string    `json:"execution_state"`
		}
		err = json.NewDecoder(res.Body).Decode(&kernels)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			continue
		}
		for _, kn := range kernels {
			at := kn.LastActivity
			if kn.ExecutionState == "busy" {
				at = now
			}
			if at.After(newest) {
				newest = at
			}
		}
	}
	return newest
}
