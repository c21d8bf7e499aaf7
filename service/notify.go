package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/store"
)

// Notices go to a project's webhook (ProjectSpec.Webhook) when one of its
// workspaces fails, is preempted, is stopped by a policy's rule or is about
// to be. They leave after the change commits, from one goroutine, with
// three tries; a crash in between loses them (the workspace's events keep
// the record). A webhook is set by whoever may edit the project, so what
// it may reach is bounded (webhookDialer): never link-local addresses (a
// cloud's metadata service), and loopback and private networks only when
// the operator allows them.

// Notice is the JSON body posted to a webhook.
type Notice struct {
	Type        string    `json:"type"` // Failed, Preempted, AutoStopped, StopComing
	Project     string    `json:"project"`
	Workspace   string    `json:"workspace"`
	WorkspaceID string    `json:"workspaceId"`
	CreatedBy   string    `json:"createdBy"`
	Reason      string    `json:"reason,omitempty"`
	Message     string    `json:"message,omitempty"`
	Time        time.Time `json:"time"`
}

type delivery struct {
	url  string
	body []byte
}

// notifier posts notices, one at a time.
type notifier struct {
	ch      chan delivery
	client  *http.Client
	private bool
}

func newNotifier(private bool) *notifier {
	n := &notifier{ch: make(chan delivery, 1024), private: private}
	n.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: webhookDialer(private).DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return n
}

// webhookDialer refuses addresses a webhook may not reach, after name
// resolution (so a name that resolves to one is refused too).
func webhookDialer(private bool) *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		if why := forbiddenAddr(net.ParseIP(host), private); why != "" {
			return errors.New("webhook address " + host + " refused: " + why)
		}
		return nil
	}}
}

// forbiddenAddr says why a webhook may not reach ip, or "".
func forbiddenAddr(ip net.IP, private bool) string {
	switch {
	case ip == nil:
		return "not an address"
	case ip.IsUnspecified(), ip.IsMulticast(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "a link-local, multicast or unspecified address (a cloud's metadata service lives there)"
	case !private && (ip.IsLoopback() || ip.IsPrivate()):
		return "loopback or private network (labspace serve --webhooks-to-private-networks allows them)"
	}
	return ""
}

// checkWebhook refuses, when it is written, a webhook whose host is an
// address it could never reach.
func (s *Service) checkWebhook(raw string) error {
	if raw == "" {
		return nil
	}
	u, _ := url.Parse(raw)
	if ip := net.ParseIP(u.Hostname()); ip != nil {
		if why := forbiddenAddr(ip, s.notes.private); why != "" {
			return unprocessable("spec.webhook", "labspace does not post to %s: %s", ip, why)
		}
	}
	return nil
}

func (n *notifier) run(log func(msg string, args ...any)) {
	for d := range n.ch {
		var err error
		for try, wait := 0, time.Second; try < 3; try, wait = try+1, wait*2 {
			if err = n.post(d); err == nil {
				break
			}
			time.Sleep(wait)
		}
		if err != nil {
			log("webhook not delivered", "url", d.url, "err", err)
		}
	}
}

func (n *notifier) post(d delivery) error {
	req, err := http.NewRequest("POST", d.url, bytes.NewReader(d.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "labspace")
	res, err := n.client.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s", res.Status)
	}
	return nil
}

// notify queues a notice about workspace id for its project's webhook, if
// it has one. It never blocks the change that caused it.
func (s *Service) notify(ctx context.Context, id, typ, reason, message string) {
	var n Notice
	var hook string
	err := s.store.View(ctx, func(tx store.Tx) error {
		var w labspace.Workspace
		rec, err := tx.Get(labspace.KindWorkspace, id)
		if err != nil {
			return err
		}
		if err := store.Decode(rec, &w); err != nil {
			return err
		}
		prec, err := find(tx, labspace.KindProject, w.Project())
		if err != nil {
			return err
		}
		var p labspace.Project
		if err := store.Decode(prec, &p); err != nil {
			return err
		}
		hook = p.Spec.Webhook
		n = Notice{Type: typ, Project: w.Project(), Workspace: w.Name, WorkspaceID: w.ID, CreatedBy: w.CreatedBy,
			Reason: reason, Message: message, Time: s.now().UTC()}
		return nil
	})
	if err != nil || hook == "" {
		return
	}
	body, _ := json.Marshal(n)
	select {
	case s.notes.ch <- delivery{url: hook, body: body}:
	default:
		s.log.Warn("webhook queue full: notice dropped", "project", n.Project, "workspace", n.Workspace, "type", typ)
	}
}
