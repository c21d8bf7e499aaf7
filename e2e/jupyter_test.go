package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// A newcomer's first session: a workspace from the seeded Jupyter
// environment reaches Running, the notebook UI opens through the proxy, a
// kernel computes 1+1 over its WebSocket, a file survives stop and start,
// and delete removes everything.
func TestJupyterWorkspaceEndToEnd(t *testing.T) {
	requireTools(t, "jupyter-notebook")
	s := startServer(t, freeAddr(t), t.TempDir())
	s.project("lab", map[string]any{"gpus": 0})
	var created workspace
	s.must(201, "POST", "/api/v1/projects/lab/workspaces", s.admin,
		map[string]any{"name": "nb", "environment": "jupyter", "compute": "cpu-small"}, &created)
	t.Cleanup(func() { s.call("DELETE", "/api/v1/projects/lab/workspaces/nb", s.admin, nil, nil) })
	s.waitPhase("lab", "nb", "Running", toolStart)

	base := "/ws/lab/nb/jupyter"
	if _, page := s.call("GET", base+"/tree", s.admin, nil, nil); !strings.Contains(string(page), "Home Page - Select or create a notebook") {
		t.Fatalf("notebook UI through the proxy: %.300s", page)
	}
	// Straight to Jupyter's port, past the proxy (as another user of the
	// host could): refused without the workspace's tool token.
	raw, err := os.ReadFile(filepath.Join(s.dataDir, "workspaces", created.Meta.ID, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Ports map[string]int }
	if err := json.Unmarshal(raw, &st); err != nil || st.Ports["jupyter"] == 0 {
		t.Fatalf("state.json: %v %s", err, raw)
	}
	direct := fmt.Sprintf("http://127.0.0.1:%d%s/api/kernels", st.Ports["jupyter"], base)
	if res, err := http.Get(direct); err != nil || res.StatusCode != http.StatusForbidden {
		t.Errorf("Jupyter's port without the tool token: %v %v, want 403", err, res)
	} else {
		res.Body.Close()
	}
	var kernel struct{ ID string }
	s.must(201, "POST", base+"/api/kernels", s.admin, map[string]any{"name": "python3"}, &kernel)
	if got := execute(t, s, base, kernel.ID, "1+1"); got != "2" {
		t.Fatalf("1+1 = %q", got)
	}
	s.must(201, "PUT", base+"/api/contents/kept.txt", s.admin,
		map[string]any{"type": "file", "format": "text", "content": "kept across stop and start"}, nil)

	s.must(202, "POST", "/api/v1/projects/lab/workspaces/nb/stop", s.admin, nil, nil)
	s.waitPhase("lab", "nb", "Stopped", converge)
	if n := len(processGroups(s.dataDir)[created.Meta.ID]); n != 0 {
		t.Fatalf("%d process groups still run for a stopped workspace", n)
	}
	s.must(202, "POST", "/api/v1/projects/lab/workspaces/nb/start", s.admin, nil, nil)
	s.waitPhase("lab", "nb", "Running", toolStart)
	var file struct{ Content string }
	s.must(200, "GET", base+"/api/contents/kept.txt", s.admin, nil, &file)
	if file.Content != "kept across stop and start" {
		t.Fatalf("file after restart: %q", file.Content)
	}

	s.must(202, "DELETE", "/api/v1/projects/lab/workspaces/nb", s.admin, nil, nil)
	deadline := time.Now().Add(converge)
	for code, _ := s.call("GET", "/api/v1/projects/lab/workspaces/nb", s.admin, nil, nil); code != 404; code, _ = s.call("GET", "/api/v1/projects/lab/workspaces/nb", s.admin, nil, nil) {
		if time.Now().After(deadline) {
			t.Fatal("the deleted workspace is still there")
		}
		time.Sleep(pollInterval)
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "workspaces", created.Meta.ID)); !os.IsNotExist(err) {
		t.Errorf("the workspace's home survives its deletion: %v", err)
	}
	if n := len(processGroups(s.dataDir)[created.Meta.ID]); n != 0 {
		t.Errorf("%d process groups run for a deleted workspace", n)
	}
}

// executeRequest is the Jupyter message that runs code.
func executeRequest(id, code string) map[string]any {
	return map[string]any{
		"header": map[string]any{"msg_id": id, "username": "e2e", "session": "e2e", "msg_type": "execute_request",
			"version": "5.3", "date": time.Now().UTC().Format(time.RFC3339)},
		"parent_header": map[string]any{}, "metadata": map[string]any{}, "channel": "shell", "buffers": []any{},
		"content": map[string]any{"code": code, "silent": false, "store_history": false, "user_expressions": map[string]any{},
			"allow_stdin": false, "stop_on_error": true},
	}
}

// execute runs code in a kernel over the kernel's WebSocket, through the
// proxy, and returns the text of its result.
func execute(t *testing.T, s *server, base, kernel, code string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolStart)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+s.addr+base+"/api/kernels/"+kernel+"/channels",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + s.admin}}})
	if err != nil {
		t.Fatalf("kernel WebSocket through the proxy: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(16 << 20)
	if err := wsjson.Write(ctx, conn, executeRequest("e2e-1", code)); err != nil {
		t.Fatal(err)
	}
	for {
		var reply struct {
			MsgType      string `json:"msg_type"`
			ParentHeader struct {
				MsgID string `json:"msg_id"`
			} `json:"parent_header"`
			Content struct {
				Data  map[string]string `json:"data"`
				Ename string            `json:"ename"`
			} `json:"content"`
		}
		if err := wsjson.Read(ctx, conn, &reply); err != nil {
			t.Fatalf("waiting for the result: %v", err)
		}
		if reply.ParentHeader.MsgID != "e2e-1" {
			continue
		}
		switch reply.MsgType {
		case "execute_result":
			return reply.Content.Data["text/plain"]
		case "error":
			t.Fatalf("kernel error %s", reply.Content.Ename)
		}
	}
}
