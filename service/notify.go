package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"strings"
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

// delivery is a notice to post to url, or to mail to to.
type delivery struct {
	url     string
	body    []byte
	to      string
	subject string
	text    string
}

// notifier posts and mails notices, one at a time.
type notifier struct {
	ch      chan delivery
	client  *http.Client
	private bool
	smtp    SMTP
}

func newNotifier(private bool, mail SMTP) *notifier {
	n := &notifier{ch: make(chan delivery, 1024), private: private, smtp: mail}
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
		send, what := n.post, "webhook not delivered"
		if d.to != "" {
			send, what = n.mail, "mail not delivered"
		}
		for try, wait := 0, time.Second; try < 3; try, wait = try+1, wait*2 {
			if err = send(d); err == nil {
				break
			}
			time.Sleep(wait)
		}
		if err != nil {
			log(what, "url", d.url, "to", d.to, "err", err)
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

// mail sends d through the SMTP server (STARTTLS when it offers it).
func (n *notifier) mail(d delivery) error {
	var auth smtp.Auth
	if n.smtp.Username != "" {
		host, _, _ := net.SplitHostPort(n.smtp.Addr)
		auth = smtp.PlainAuth("", n.smtp.Username, n.smtp.Password, host)
	}
	msg := "From: " + n.smtp.From + "\r\nTo: " + d.to + "\r\nSubject: " + d.subject +
		"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + d.text + "\r\n"
	return smtp.SendMail(n.smtp.Addr, auth, n.smtp.From, []string{d.to}, []byte(msg))
}

// oneLine keeps a header value on its line.
func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// notify queues a notice about workspace id for its project's webhook and
// its creator's mailbox, where there are. It never blocks the change that
// caused it.
func (s *Service) notify(ctx context.Context, id, typ, reason, message string) {
	var n Notice
	var hook, to string
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
		if s.notes.smtp.Addr != "" {
			if urec, err := tx.GetByName(labspace.KindUser, labspace.Global, w.CreatedBy); err == nil {
				var u labspace.User
				if store.Decode(urec, &u) == nil {
					to = u.Spec.Email
				}
			}
		}
		n = Notice{Type: typ, Project: w.Project(), Workspace: w.Name, WorkspaceID: w.ID, CreatedBy: w.CreatedBy,
			Reason: reason, Message: message, Time: s.now().UTC()}
		return nil
	})
	if err != nil {
		return
	}
	var out []delivery
	if hook != "" {
		body, _ := json.Marshal(n)
		out = append(out, delivery{url: hook, body: body})
	}
	if to != "" && !strings.ContainsAny(to, "\r\n") {
		out = append(out, delivery{to: to, subject: oneLine(fmt.Sprintf("[labspace] %s in %s: %s", n.Workspace, n.Project, typ)),
			text: fmt.Sprintf("Workspace %s of project %s: %s.\n\n%s (%s)\n", n.Workspace, n.Project, typ, n.Message, n.Reason)})
	}
	for _, d := range out {
		select {
		case s.notes.ch <- d:
		default:
			s.log.Warn("notice queue full: notice dropped", "project", n.Project, "workspace", n.Workspace, "type", typ)
		}
	}
}
