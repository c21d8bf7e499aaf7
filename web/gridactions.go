package web

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labspace/labspace"
)

// Row and bulk actions of the grid: one form posts action (start, stop
// or delete) and the workspaces it applies to, each as project/name; a
// row's button posts both in one value, do ("stop lab/a"), through a
// form shared by the rows (so that a row carries no token of its own).
// Every workspace goes through the service as the caller, so one the
// caller may not see is "not found" and one the caller's role does not
// allow acting on is refused, as on its own page; the result says how
// many succeeded and which failed, and why. A delete is confirmed on a
// page of its own first. Without JavaScript the result comes back on
// the grid (a signed flash cookie across the redirect); app.js posts
// the same form and shows the JSON answer in place.

// maxBulk bounds the workspaces of one action (a page holds at most 200).
const maxBulk = 1000

var actionPhases = map[string]labspace.Phase{"start": labspace.PhaseRunning, "stop": labspace.PhaseStopped,
	"delete": labspace.PhaseDeleted}

// actionResult is what an action did.
type actionResult struct {
	Action  string    `json:"action"`
	Done    []string  `json:"done"`
	Failed  []failure `json:"failed"`
	Message string    `json:"message"`
}

// failure is one workspace the action could not be applied to.
type failure struct {
	Workspace string `json:"workspace"`
	Reason    string `json:"reason"`
}

// pastTense names what an action did.
var pastTense = map[string]string{"start": "Started", "stop": "Stopped", "delete": "Deleting"}

// summary says what the result was, in one paragraph: "Stopped 2 of 3
// workspaces. Not stopped: nlp/c (Your role does not allow ...)."
func (res *actionResult) summary() string {
	n := len(res.Done) + len(res.Failed)
	noun := "workspaces"
	if n == 1 {
		noun = "workspace"
	}
	var b strings.Builder
	if len(res.Failed) == 0 {
		fmt.Fprintf(&b, "%s %d %s", pastTense[res.Action], n, noun)
		if len(res.Done) <= 3 {
			fmt.Fprintf(&b, ": %s", strings.Join(res.Done, ", "))
		}
		b.WriteString(".")
		return b.String()
	}
	fmt.Fprintf(&b, "%s %d of %d %s. Not %s: ", pastTense[res.Action], len(res.Done), n, noun,
		map[string]string{"start": "started", "stop": "stopped", "delete": "deleted"}[res.Action])
	for i, f := range res.Failed {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (%s)", f.Workspace, f.Reason)
	}
	b.WriteString(".")
	return b.String()
}

// selected reads the form's workspaces: each once, in the order given.
func selected(keys []string) ([]string, error) {
	if len(keys) > maxBulk {
		return nil, labspace.Errorf(labspace.EINVALID, "At most %d workspaces at a time.", maxBulk)
	}
	seen := map[string]bool{}
	out := []string{}
	for _, k := range keys {
		if k = strings.TrimSpace(k); k != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, nil
}

// gridActions applies the form's action to its workspaces.
func (h *Handler) gridActions(w http.ResponseWriter, r *http.Request) error {
	action, wsKeys := r.PostFormValue("action"), r.PostForm["ws"]
	if do := r.PostFormValue("do"); do != "" { // a row's button: "stop lab/a"
		var key string
		action, key, _ = strings.Cut(do, " ")
		wsKeys = []string{key}
	}
	to, ok := actionPhases[action]
	if !ok {
		return labspace.Errorf(labspace.EINVALID, "The action must be start, stop or delete.")
	}
	keys, err := selected(wsKeys)
	if err != nil {
		return err
	}
	back := gridBack(r.PostFormValue("back"))
	if len(keys) == 0 {
		return h.actionAnswer(w, r, back, &actionResult{Action: action, Done: []string{}, Failed: []failure{},
			Message: "Select workspaces first: tick the boxes beside their names."})
	}
	if to == labspace.PhaseDeleted && r.PostFormValue("confirm") == "" {
		h.render(w, r, http.StatusOK, "gridconfirm", &bulkConfirm{Keys: keys, Back: back, BackQuery: strings.TrimPrefix(back, "/?")})
		return nil
	}
	res := &actionResult{Action: action, Done: []string{}, Failed: []failure{}}
	for _, k := range keys {
		project, name, _ := strings.Cut(k, "/")
		if _, err := h.svc.SetDesiredPhase(r.Context(), project, name, to); err != nil {
			res.Failed = append(res.Failed, failure{Workspace: k, Reason: h.reason(r, err)})
			continue
		}
		res.Done = append(res.Done, k)
	}
	res.Message = res.summary()
	return h.actionAnswer(w, r, back, res)
}

// reason is what a user is told of err: its message, or "internal error"
// (the details go to the log).
func (h *Handler) reason(r *http.Request, err error) string {
	var e *labspace.Error
	if errors.As(err, &e) {
		return strings.TrimSuffix(e.Message, ".")
	}
	h.log.Error("grid action", "path", r.URL.Path, "err", err)
	return "internal error, logged"
}

// actionAnswer answers a script with the result, a browser with the grid
// and the result above it.
func (h *Handler) actionAnswer(w http.ResponseWriter, r *http.Request, back string, res *actionResult) error {
	if wantsJSON(r) {
		writeJSON(w, res)
		return nil
	}
	h.setFlash(w, res.Message)
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

// bulkConfirm is the page that asks before deleting.
type bulkConfirm struct {
	Keys            []string
	Back, BackQuery string
}

// flashCookie carries a message across one redirect, signed so that no
// other page (a tool's, on a sibling host) can plant one.
const flashCookie = "labspace_flash"

// maxFlash bounds the message a cookie carries.
const maxFlash = 1500

func (h *Handler) setFlash(w http.ResponseWriter, msg string) {
	if len(msg) > maxFlash {
		msg = msg[:maxFlash] + "…"
	}
	v := base64.RawURLEncoding.EncodeToString([]byte(msg)) + "." + base64.RawURLEncoding.EncodeToString(h.sign("flash", []byte(msg)))
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: v, Path: "/", MaxAge: 60, HttpOnly: true, Secure: h.secure,
		SameSite: http.SameSiteLaxMode})
}

// takeFlash returns the message a redirect carried, once.
func (h *Handler) takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode})
	m, sig, ok := strings.Cut(c.Value, ".")
	msg, err1 := base64.RawURLEncoding.DecodeString(m)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err1 != nil || err2 != nil || !sameToken(string(mac), string(h.sign("flash", msg))) {
		return ""
	}
	return string(msg)
}
