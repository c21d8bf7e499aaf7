package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/labspace/labspace/client"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func loginCmd() *cobra.Command {
	var username, token string
	var passwordStdin, browser, noOpen bool
	cmd := &cobra.Command{
		Use:   "login <server>",
		Short: "Sign in to a labspace server and remember the token",
		Example: `  labspace login http://127.0.0.1:8080
  labspace login https://labspace.example.com --username alice --password-stdin < password.txt
  labspace login https://labspace.example.com --token "$LABSPACE_TOKEN"
  labspace login https://labspace.example.com --sso`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := strings.TrimSuffix(args[0], "/")
			var err error
			switch {
			case browser:
				token, err = browserLogin(cmd, server, !noOpen)
			case token == "":
				token, err = passwordLogin(cmd, server, username, passwordStdin)
			}
			if err != nil {
				return err
			}
			me, err := client.New(server, token).WhoAmI(cmd.Context())
			if err != nil {
				return err
			}
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			cfg.Server, cfg.Token = server, token
			if err := cfg.save(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Signed in to %s as %s.\n", server, me.Subject.Name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&username, "username", "u", "", "user name (prompted for when not given)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	cmd.Flags().StringVar(&token, "token", "", "sign in with an existing token instead of a password")
	cmd.Flags().BoolVar(&browser, "sso", false, "sign in through the browser (single sign-on, or labspace's own form)")
	cmd.Flags().BoolVar(&noOpen, "no-browser", false, "with --sso, only print the address to open")
	cmd.MarkFlagsMutuallyExclusive("sso", "token")
	cmd.MarkFlagsMutuallyExclusive("sso", "username")
	return cmd
}

func passwordLogin(cmd *cobra.Command, server, username string, fromStdin bool) (string, error) {
	in := bufio.NewReader(cmd.InOrStdin())
	if username == "" {
		if fromStdin {
			return "", usageErr("--password-stdin needs --username")
		}
		fmt.Fprint(cmd.ErrOrStderr(), "Username: ")
		line, err := in.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		username = strings.TrimSpace(line)
	}
	var password string
	if f, ok := cmd.InOrStdin().(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
		raw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", err
		}
		password = string(raw)
	} else {
		if !fromStdin {
			fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
		}
		line, err := in.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		password = strings.TrimRight(line, "\r\n")
	}
	t, err := client.New(server, "").Login(cmd.Context(), username, password)
	if err != nil {
		return "", err
	}
	return t.AccessToken, nil
}

func logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "logout",
		Short:   "Revoke the remembered token and forget it",
		Example: "  labspace logout",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cfg, err := apiClient()
			if err != nil {
				return err
			}
			var apiErr *client.Error
			if err := c.Logout(cmd.Context()); err != nil && !(errors.As(err, &apiErr) && apiErr.Status == 401) {
				return err
			}
			cfg.Token = ""
			if err := cfg.save(); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Signed out.")
			return nil
		},
	}
}

func whoamiCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:     "whoami",
		Short:   "Show who you are signed in as, and your roles",
		Example: "  labspace whoami\n  labspace whoami -o json",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, cfg, err := apiClient()
			if err != nil {
				return err
			}
			me, err := c.WhoAmI(cmd.Context())
			if err != nil {
				return err
			}
			if out != "table" && out != "wide" {
				return printData(cmd.OutOrStdout(), out, me)
			}
			rows := [][]string{}
			for _, g := range me.Grants {
				rows = append(rows, []string{me.Subject.Name, cfg.Server, string(g.Role), g.Scope.String()})
			}
			if len(rows) == 0 {
				rows = append(rows, []string{me.Subject.Name, cfg.Server, "-", "-"})
			}
			return printTable(cmd.OutOrStdout(), []string{"USER", "SERVER", "ROLE", "SCOPE"}, rows)
		},
	}
	addOutputFlag(cmd, &out)
	return cmd
}
