package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"time"

	"github.com/labspace/labspace/client"
	"github.com/spf13/cobra"
)

// browserLogin signs the command line in through the browser (RFC 8252):
// a one-use code comes back to a port on this computer's loopback
// address, and only this process, which holds the PKCE verifier, can
// exchange it for a token. Whatever the browser signs in with (single
// sign-on or a password) is what counts.
func browserLogin(cmd *cobra.Command, server string, open bool) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	verifier, state := randomText(), randomText()
	sum := sha256.Sum256([]byte(verifier))
	redirect := "http://" + ln.Addr().String() + "/callback"
	to := server + "/auth/cli?" + url.Values{"redirect_uri": {redirect}, "state": {state}, "code_challenge_method": {"S256"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}}.Encode()
	fmt.Fprintf(cmd.ErrOrStderr(), "Sign in with your browser at:\n  %s\n", to)
	if open {
		openBrowser(to)
	}
	codes := make(chan string, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/callback" || q.Get("state") != state || q.Get("code") == "" {
			http.Error(w, "This is not the answer labspace login waits for.", http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, "The labspace command line is signed in. You can close this tab.")
		select {
		case codes <- q.Get("code"):
		default:
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
	defer cancel()
	select {
	case code := <-codes:
		t, err := client.New(server, "").LoginCode(ctx, code, verifier, redirect)
		if err != nil {
			return "", err
		}
		return t.AccessToken, nil
	case <-ctx.Done():
		return "", errors.New("no sign-in came back from the browser within 5 minutes")
	}
}

func randomText() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// openBrowser tries the desktop's way of opening a URL; the URL is printed
// anyway, for a machine without one.
func openBrowser(u string) {
	name := "xdg-open"
	if runtime.GOOS == "darwin" {
		name = "open"
	}
	if c := exec.Command(name, u); c.Start() == nil {
		go c.Wait()
	}
}
