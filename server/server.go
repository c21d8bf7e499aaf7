// Package server wires labspace together: store, service and HTTP handlers.
// `labspace serve` and the tests both start labspace through it.
package server

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/labspace/labspace/store/sqlstore"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/api"
	"github.com/labspace/labspace/controller"
	"github.com/labspace/labspace/metrics"
	"github.com/labspace/labspace/proxy"
	"github.com/labspace/labspace/runtime"
	"github.com/labspace/labspace/runtime/kube"
	"github.com/labspace/labspace/runtime/local"
	"github.com/labspace/labspace/secret"
	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/web"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Config is what `labspace serve` takes.
type Config struct {
	DataDir string
	Addr    string
	// SecretKey (64 hex digits) seals credentials; empty: a key file in DataDir.
	SecretKey string
	// AdminPassword is the first start's admin password; empty: a random one.
	AdminPassword string
	BcryptCost    int
	Logger        *slog.Logger
	// PublicURL is how users reach this server (default http://<addr>).
	PublicURL string
	// ProxyDomain serves each tool on a host of its own,
	// <tool>-<workspace>-<project>.<ProxyDomain>, which may be shared.
	ProxyDomain string
	// NoToolPaths turns off /ws/ (tools on labspace's own address, each
	// for its creator only); with ProxyDomain, tools are then on their hosts only.
	NoToolPaths bool
	// StopGrace is how long a workload has to exit after SIGTERM (default 10s).
	StopGrace time.Duration
	// Resync is how often the controller looks at every workspace (default 5s).
	Resync time.Duration
	// Kubeconfig runs workspaces on the Kubernetes cluster it points to;
	// with InCluster, on the cluster labspace itself runs in. Neither:
	// workspaces are local processes.
	Kubeconfig string
	InCluster  bool
	// Instance names this installation on the cluster (default: a random
	// name kept in DataDir); replicas of one installation share it.
	Instance string
	// SingleUser lets everyone run workspaces on the local runtime even
	// where it cannot isolate workloads from labspace and each other (one
	// person's machine). Without it, only administrators may there.
	SingleUser bool
	// ReadTimeout bounds the time to read a request, body included
	// (default 30s); streaming paths lift it.
	ReadTimeout time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (client.go).
	TrustedProxies []netip.Prefix
	// PodSecurity is the least Pod Security level of the namespaces labspace
	// creates on Kubernetes (default restricted); ProxyNamespace is the
	// namespace labspace runs in, whose pods alone reach workspaces.
	PodSecurity, ProxyNamespace string
	// PrometheusURL and its queries: where what workloads use is read on
	// Kubernetes (kube.Options).
	PrometheusURL                   string
	GPUQuery, CPUQuery, MemoryQuery string
	// Database is a PostgreSQL URL (postgres://...); empty: SQLite in DataDir.
	Database string
	// SSO, when its Issuer is set, signs people in through an OpenID provider.
	SSO *SSO
	// UseEvery is how often what running workspaces use is sampled, for
	// /metrics and the projects' charts (default a minute).
	UseEvery time.Duration
	// WebhooksToPrivate lets project webhooks reach loopback and private networks.
	WebhooksToPrivate bool
	// SMTP mails notices to workspaces' creators (service.SMTP).
	SMTP service.SMTP
	// FirstWorkloadUID and WorkloadUIDs bound the uids local workloads get
	// when labspace runs as root (defaults in runtime/local).
	FirstWorkloadUID, WorkloadUIDs int
}

// Server is a running labspace.
type Server struct {
	Service  *service.Service
	API      *api.Server
	Listener net.Listener
	// AdminPassword is set when this start created the admin user.
	AdminPassword string
	Controller    *controller.Controller
	http          *http.Server
	closeStore    func() error
	closeRuntime  func()
	db            *sqlstore.DB
	metrics       *metrics.Metrics
	log           *slog.Logger
	stop          context.CancelFunc
	done          chan struct{}
}

// Open prepares a server: opens the store, creates the admin user on first
// start, and listens on cfg.Addr. Serve starts answering.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	// Only labspace enters its data dir, whatever mode it was made with.
	if fi, err := os.Stat(cfg.DataDir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		cfg.Logger.Warn("the data dir was open to other users of this host; labspace made it 0700", "dir", cfg.DataDir, "mode", fi.Mode().Perm().String())
	}
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	key, err := loadKey(cfg)
	if err != nil {
		return nil, err
	}
	box, err := secret.NewBox(key)
	if err != nil {
		return nil, err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := oneLocalReplica(ctx, cfg, db); err != nil {
		db.Close()
		return nil, err
	}
	svc := service.New(service.Options{Store: withReserve(db, filepath.Join(cfg.DataDir, "reserve"), cfg.Logger), Box: box, BcryptCost: cfg.BcryptCost, Logger: cfg.Logger,
		WebhooksToPrivate: cfg.WebhooksToPrivate, SMTP: cfg.SMTP, SSO: serviceSSO(cfg.SSO)})
	s := &Server{Service: svc, API: api.New(svc, cfg.Logger), closeStore: db.Close, db: db, log: cfg.Logger}
	toolKey := derivedKey(key, "labspace tool tokens")
	rt, poll, workers, err := openRuntime(ctx, cfg, svc, toolKey)
	if err != nil {
		db.Close()
		return nil, err
	}
	if c, ok := rt.(interface{ Close() }); ok {
		s.closeRuntime = c.Close
	}
	svc.SetCapacity(rt.Capacity)
	password := cfg.AdminPassword
	if password == "" {
		password = randomPassword()
	}
	created, err := svc.EnsureAdmin(ctx, password)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("admin user: %w", err)
	}
	if created {
		s.AdminPassword = password
	}
	s.Listener, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		db.Close()
		return nil, err
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + s.Listener.Addr().String()
	}
	rp, err := openSSO(ctx, cfg.SSO, cfg.PublicURL, svc)
	if err != nil {
		s.Listener.Close()
		db.Close()
		return nil, err
	}
	m := serviceMetrics(svc)
	s.metrics = m
	origins := proxy.Options{Domain: cfg.ProxyDomain, NoPaths: cfg.NoToolPaths, PublicURL: strings.TrimSuffix(cfg.PublicURL, "/")}
	s.Controller = controller.New(controller.Options{Service: svc, Runtime: rt, Logger: cfg.Logger, Metrics: m,
		PublicURL: origins.PublicURL, Resync: cfg.Resync, Poll: poll, Workers: workers, ToolKey: toolKey, UseEvery: cfg.UseEvery,
		ToolURL: func(w *labspace.Workspace, tool string) string { return proxy.ToolURL(origins, w, tool) }})
	svc.SetLifecycle(s.Controller, rt)
	tools := proxy.New(svc, s.Controller, origins, cfg.Logger)
	tools.SetToolKey(toolKey)
	mux := http.NewServeMux()
	// Tool traffic (/ws/) is the tools' own and stays off the metrics: the
	// proxy's hot path does no more than forward.
	mux.Handle("/api/", m.Instrument("api", s.API))
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("/ws/", tools)
	mux.Handle("GET /connect/", tools)
	// Healthy when the store commits: a full disk is not "ok" (S9).
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := svc.Healthy(r.Context()); err != nil {
			cfg.Logger.Error("health: the store cannot commit", "err", err)
			http.Error(w, "the store cannot commit\n", http.StatusServiceUnavailable)
			return
		}
		if free, ok := freeSpace(cfg.DataDir); ok && free < reserveSize {
			http.Error(w, "the data volume is full ("+strconv.FormatUint(free>>10, 10)+" KiB free)\n", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	// For Kubernetes' probes: live while it serves (a database outage is
	// waited out, not answered with restarts), ready while the store
	// answers (a replica that cannot reach it takes no traffic).
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := svc.Healthy(ctx); err != nil {
			http.Error(w, "the store does not answer\n", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/", m.Instrument("web", web.New(web.Options{Service: svc, Logger: cfg.Logger, PublicURL: cfg.PublicURL,
		Key: derivedKey(key, "labspace csrf tokens"), SSO: rp, SSOOnly: cfg.SSO != nil && cfg.SSO.Only})))
	var root http.Handler = mux
	if cfg.ProxyDomain != "" {
		root = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if host, _, _ := strings.Cut(r.Host, ":"); strings.HasSuffix(host, "."+cfg.ProxyDomain) {
				tools.ServeHTTP(w, r)
				return
			}
			mux.ServeHTTP(w, r)
		})
	}
	root = fromProxies(cfg.TrustedProxies, root)
	// A request has ReadTimeout to arrive whole, and an idle connection is
	// closed after IdleTimeout (S8: slow bodies and idle keep-alives held
	// connections forever); streams (followed logs, tools) lift the read
	// deadline for themselves.
	readTimeout := cmp.Or(cfg.ReadTimeout, 30*time.Second)
	s.http = &http.Server{Handler: root, ReadHeaderTimeout: min(10*time.Second, readTimeout), ReadTimeout: readTimeout,
		IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	return s, nil
}

func loadKey(cfg Config) ([]byte, error) {
	if cfg.SecretKey != "" {
		return secret.ParseKey(cfg.SecretKey)
	}
	return secret.LoadOrCreateKey(filepath.Join(cfg.DataDir, "secret.key"))
}

// derivedKey derives a key for one purpose (tool tokens, CSRF tokens)
// from the secret key, so that what it signs survives restarts and is the
// same on every replica.
func derivedKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// loadInstance returns this installation's name on a cluster: the
// Instance setting, else a random one kept in the data directory.
func loadInstance(cfg Config) (string, error) {
	if cfg.Instance != "" {
		return cfg.Instance, nil
	}
	path := filepath.Join(cfg.DataDir, "instance")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	id := "ls-" + hex.EncodeToString(b)
	return id, os.WriteFile(path, []byte(id+"\n"), 0o600)
}

func randomPassword() string {
	b := make([]byte, 15)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// URL is where the server answers.
func (s *Server) URL() string { return "http://" + s.Listener.Addr().String() }

// Serve runs the lifecycle controller and answers requests until Close.
func (s *Server) Serve() error {
	ctx, stop := context.WithCancel(context.Background())
	s.stop, s.done = stop, make(chan struct{})
	go func() {
		defer close(s.done)
		s.db.Lead(ctx, s.leading, func(ctx context.Context) { _ = s.Controller.Run(ctx) })
	}()
	err := s.http.Serve(s.Listener)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// leading hears of this replica gaining or losing the lead.
func (s *Server) leading(yes bool) {
	if yes {
		s.metrics.Leader.Set(1)
		s.log.Info("this replica leads: it runs the lifecycle controller")
		return
	}
	s.metrics.Leader.Set(0)
	s.log.Info("this replica no longer leads")
}

// Close stops answering, waiting up to the context's deadline for requests
// in flight, then closes the store.
func (s *Server) Close(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if s.stop != nil {
		s.stop()
		<-s.done
	}
	if s.closeRuntime != nil {
		s.closeRuntime()
	}
	return errors.Join(err, s.closeStore())
}

// openRuntime returns the runtime cfg asks for, how often the controller
// polls a workspace in transition (often for local processes, rarely on
// Kubernetes, whose informers report changes) and how many workspaces it
// reconciles at once (more on Kubernetes, where a pass waits on the API).
func openRuntime(ctx context.Context, cfg Config, svc *service.Service, toolKey []byte) (runtime.Runtime, time.Duration, int, error) {
	if cfg.Kubeconfig == "" && !cfg.InCluster {
		rt, err := local.New(local.Options{Dir: filepath.Join(cfg.DataDir, "workspaces"), Grace: cfg.StopGrace, ToolKey: toolKey,
			Hide: []string{cfg.DataDir}, FirstUID: cfg.FirstWorkloadUID, UIDCount: cfg.WorkloadUIDs,
			Secret: func(ctx context.Context, id, key string) (string, error) {
				return svc.CredentialValue(service.AsController(ctx), id, key)
			}})
		if err != nil {
			return nil, 0, 0, err
		}
		iso, why := rt.Isolation()
		switch {
		case iso != local.IsolateNone:
			cfg.Logger.Info("local runtime: workloads are isolated", "isolation", iso, "how", why)
		case cfg.SingleUser:
			cfg.Logger.Warn("local runtime: workloads run as labspace itself (--single-user)", "why", why)
		default:
			svc.RestrictWorkloads(why)
			cfg.Logger.Warn("local runtime: only administrators may run workspaces; start with --single-user if one person uses this server", "why", why)
		}
		return rt, 0, 0, nil
	}
	var rc *rest.Config
	var err error
	if cfg.InCluster {
		rc, err = rest.InClusterConfig()
	} else {
		rc, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	}
	if err != nil {
		return nil, 0, 0, fmt.Errorf("kubernetes: %w", err)
	}
	instance, err := loadInstance(cfg)
	if err != nil {
		return nil, 0, 0, err
	}
	rt, err := kube.New(ctx, kube.Options{Config: rc, Logger: cfg.Logger, Instance: instance, ToolKey: toolKey,
		PodSecurity: cfg.PodSecurity, ProxyNamespace: cfg.ProxyNamespace, MetricsURL: cfg.PrometheusURL,
		GPUQuery: cfg.GPUQuery, CPUQuery: cfg.CPUQuery, MemoryQuery: cfg.MemoryQuery,
		Inputs: func(ctx context.Context, w *labspace.Workspace) (*runtime.Inputs, error) {
			return svc.WorkloadInputs(service.AsController(ctx), w)
		}})
	// Informers report what changes: polls are a safety net, as rare as
	// the resync of running workspaces; at 10,000 workspaces starting,
	// polls every 10 s were most of the controller's passes and held up
	// the starts. A pass mostly waits on the API server or a store
	// commit, so many run at once (and the store commits their writes
	// together).
	return rt, time.Minute, 64, err
}

// serviceMetrics returns the metrics, with the collectors that read the
// service at each scrape.
func serviceMetrics(svc *service.Service) *metrics.Metrics {
	m := metrics.New()
	m.WorkspacePhases(func(ctx context.Context) (map[string]int, error) {
		return svc.WorkspacePhases(service.AsController(ctx))
	})
	m.ProjectAllocations(func(ctx context.Context) ([]metrics.Allocation, error) {
		return svc.ProjectAllocations(service.AsController(ctx))
	})
	m.WorkspaceUses(func(ctx context.Context) ([]metrics.WorkspaceUse, error) {
		uses, err := svc.WorkspaceUses(service.AsController(ctx))
		out := make([]metrics.WorkspaceUse, len(uses))
		for i, u := range uses {
			out[i] = metrics.WorkspaceUse{Workspace: u.Name, Project: u.Project, Department: u.Department, GPUs: u.GPUs,
				MilliCPU: u.MilliCPU, Memory: u.Memory, GPUPercent: u.GPUPercent, CPUCores: u.CPUCores,
				MemoryBytes: u.MemoryBytes, IdleSeconds: u.IdleSeconds}
		}
		return out, err
	})
	return m
}
