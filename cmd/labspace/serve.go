package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/labspace/labspace/runtime/kube"
	"github.com/labspace/labspace/runtime/local"
	"github.com/labspace/labspace/server"
	"github.com/labspace/labspace/sso"
	"github.com/spf13/cobra"
)

func serveCmd() *cobra.Command {
	cfg := server.Config{SSO: &server.SSO{}}
	var proxies []string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the labspace server (REST API, tool proxy, lifecycle controller)",
		Example: `  labspace serve
  labspace serve --addr 0.0.0.0:8080 --data-dir /var/lib/labspace --public-url https://labspace.example.com
  LABSPACE_ADMIN_PASSWORD=s3cret-pass labspace serve`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.AdminPassword = os.Getenv("LABSPACE_ADMIN_PASSWORD")
			cfg.SMTP.Password = os.Getenv("LABSPACE_SMTP_PASSWORD")
			cfg.SSO.ClientSecret = os.Getenv("LABSPACE_OIDC_CLIENT_SECRET")
			if cfg.Database == "" {
				cfg.Database = os.Getenv("LABSPACE_DATABASE")
			}
			if cfg.SecretKey == "" {
				cfg.SecretKey = os.Getenv("LABSPACE_SECRET_KEY")
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
			var err error
			if cfg.TrustedProxies, err = server.ParseProxies(proxies); err != nil {
				return fmt.Errorf("--trusted-proxy: %w", err)
			}
			return serve(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "labspace-data", "directory for the SQLite database, the secret key and workspace homes")
	f.StringVar(&cfg.Database, "database", "", "a PostgreSQL URL (postgres://user@host/db?sslmode=...; default $LABSPACE_DATABASE) instead of SQLite in --data-dir; the URL's password is better given in $LABSPACE_DATABASE or a .pgpass file")
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.StringVar(&cfg.SecretKey, "secret-key", "", "64 hex digits sealing credentials at rest (default: $LABSPACE_SECRET_KEY, else a key file in --data-dir)")
	f.StringVar(&cfg.PublicURL, "public-url", "", "how users reach this server, for tool links (default http://<addr>)")
	f.StringVar(&cfg.ProxyDomain, "proxy-domain", "", "serve each tool on a host of its own, <tool>-<workspace>-<project>.<domain> (wildcard DNS, best a domain other than labspace's): tools become shareable")
	f.BoolVar(&cfg.NoToolPaths, "no-tool-paths", false, "turn off /ws/ (tools on labspace's own address, each answering its creator only); with --proxy-domain, tools are on their own hosts only")
	f.DurationVar(&cfg.StopGrace, "stop-grace", 10*time.Second, "how long a workload has to exit after SIGTERM before SIGKILL")
	f.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "run workspaces on the Kubernetes cluster of this kubeconfig file (default: local processes)")
	f.BoolVar(&cfg.InCluster, "in-cluster", false, "run workspaces on the Kubernetes cluster labspace runs in, with its service account")
	f.StringSliceVar(&proxies, "trusted-proxy", nil, "address or CIDR of a reverse proxy in front of labspace (repeatable): its X-Forwarded-For names the client, for the audit log and the sign-in throttle")
	f.BoolVar(&cfg.SingleUser, "single-user", false, "on a host where the local runtime cannot isolate workloads (neither root nor user namespaces), let every user run workspaces as labspace's own user")
	f.IntVar(&cfg.FirstWorkloadUID, "workload-uid-first", local.DefaultFirstUID, "when labspace runs as root, the first uid (and gid) of the range given to local workloads, one per workspace")
	f.IntVar(&cfg.WorkloadUIDs, "workload-uids", local.DefaultUIDCount, "how many uids the range of --workload-uid-first holds")
	f.StringVar(&cfg.SMTP.Addr, "smtp-addr", "", "mail notices (failed, preempted, about to be stopped, stopped by a rule) to workspaces' creators through this SMTP server, host:port")
	f.StringVar(&cfg.SMTP.From, "smtp-from", "labspace@localhost", "the From address of those mails")
	f.StringVar(&cfg.SMTP.Username, "smtp-username", "", "SMTP user (PLAIN authentication; the password from LABSPACE_SMTP_PASSWORD)")
	f.BoolVar(&cfg.WebhooksToPrivate, "webhooks-to-private-networks", false, "let projects' webhooks reach loopback and private network addresses (link-local ones, where clouds serve instance metadata, never)")
	f.DurationVar(&cfg.UseEvery, "use-sample-every", time.Minute, "how often what running workspaces use (GPU, CPU, memory, idle time) is sampled for /metrics and the projects' charts")
	f.StringVar(&cfg.PrometheusURL, "prometheus-url", "", "on Kubernetes, a Prometheus API with NVIDIA's DCGM exporter's and the kubelets' series: what workloads use then counts for idle rules and shows in /metrics")
	f.StringVar(&cfg.GPUQuery, "prometheus-gpu-query", kube.DefaultGPUQuery, "the PromQL query giving each pod's GPU utilisation in percent, labelled by namespace and pod")
	f.StringVar(&cfg.CPUQuery, "prometheus-cpu-query", kube.DefaultCPUQuery, "the PromQL query giving each pod's CPU use in cores, labelled by namespace and pod")
	f.StringVar(&cfg.MemoryQuery, "prometheus-memory-query", kube.DefaultMemoryQuery, "the PromQL query giving each pod's memory in bytes, labelled by namespace and pod")
	f.StringVar(&cfg.PodSecurity, "pod-security", "restricted", "on Kubernetes, the Pod Security level project namespaces enforce at least (restricted, baseline or privileged); settings an administrator permits raise a namespace as they need")
	f.StringVar(&cfg.ProxyNamespace, "proxy-namespace", "", "on Kubernetes, the namespace labspace runs in: network policies let only its pods reach workspaces (default: labspace's own pod's namespace, else labspace)")
	ssoFlags(cmd, cfg.SSO)
	f.StringVar(&cfg.Instance, "instance", "", "this installation's name on the cluster, labelling its objects (default: a random name kept in --data-dir)")
	return cmd
}

func serve(ctx context.Context, cfg server.Config) error {
	s, err := server.Open(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("labspace is serving at %s (data in %s)\n", s.URL(), cfg.DataDir)
	fmt.Printf("Sign in with a browser at %s/login\n", strings.TrimSuffix(cmp.Or(cfg.PublicURL, s.URL()), "/"))
	switch {
	case s.AdminPassword != "" && cfg.AdminPassword == "":
		fmt.Printf("Sign in as admin with password %s (shown once: keep it).\n", s.AdminPassword)
	case s.AdminPassword != "":
		fmt.Println("Sign in as admin with the password from LABSPACE_ADMIN_PASSWORD.")
	default:
		fmt.Println("Sign in as admin with the password set at the first start.")
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Close(shutdown)
}

// ssoFlags are single sign-on's flags (docs/operations.md, "Single sign-on").
func ssoFlags(cmd *cobra.Command, c *server.SSO) {
	f := cmd.Flags()
	f.StringVar(&c.Issuer, "oidc-issuer", "", "sign people in through this OpenID Connect provider (its issuer URL); the client secret comes from LABSPACE_OIDC_CLIENT_SECRET")
	f.StringVar(&c.ClientID, "oidc-client-id", "", "labspace's client id at the provider (redirect URL: <public-url>"+sso.CallbackPath+")")
	f.StringVar(&c.Name, "oidc-name", "single sign-on", "the provider's name on the sign-in page (\"Sign in with ...\")")
	f.StringSliceVar(&c.Scopes, "oidc-scopes", []string{"openid", "profile", "email", "groups"}, "scopes to ask for")
	f.StringVar(&c.UsernameClaim, "oidc-username-claim", "", "the claim naming the user (default preferred_username, then email)")
	f.StringVar(&c.GroupsClaim, "oidc-groups-claim", "groups", "the claim listing the user's groups, which access rules' group subjects match")
	f.StringVar(&c.UIDClaim, "oidc-uid-claim", "", "the claim with the user's POSIX uid, for environments whose runAs source is identity-provider")
	f.StringVar(&c.GIDClaim, "oidc-gid-claim", "", "the claim with the user's POSIX gid")
	f.StringVar(&c.GroupIDsClaim, "oidc-supplementary-gids-claim", "", "the claim with the user's supplementary POSIX group ids")
	f.DurationVar(&c.ClockSkew, "oidc-clock-skew", 2*time.Minute, "how far the provider's clock may run ahead of labspace's")
	f.BoolVar(&c.Only, "oidc-only", false, "show only \"Sign in with ...\" on /login (the password form stays at /login?local=1)")
	f.StringSliceVar(&c.AdminEmails, "oidc-admin-emails", nil, "users signing in with one of these verified e-mail addresses become system administrators")
	f.StringSliceVar(&c.AdminGroups, "oidc-admin-groups", nil, "members of these provider groups are system administrators")
}
