// Command kube measures starting many workspaces at once on the Kubernetes
// runtime, on the test control plane (etcd, kube-apiserver, scheduler,
// controller manager, kwok nodes), beside the floor: the same number of
// pods created directly with client-go in the same run. Each side is timed
// from the first request until every pod is ready (for labspace: until the
// API reports every workspace Running). It reports the control plane's CPU
// time and peak memory during each side, and labspace's own CPU time.
//
//	go run ./bench/kube            # 500 workspaces
//	go run ./bench/kube -n 100     # a quick one
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
	"github.com/labspace/labspace/runtime/kube/kubetest"
	"github.com/labspace/labspace/server"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var cpuprofile string

func main() {
	n := flag.Int("n", 500, "workspaces (and pods) to start at once")
	clients := flag.Int("c", 16, "concurrent clients sending the requests")
	flag.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of this process while labspace's side runs")
	flag.Parse()
	if why := kubetest.Available(); why != "" {
		log.Fatal(why)
	}
	if err := run(*n, *clients); err != nil {
		log.Fatal(err)
	}
}

// side is one measured run.
type side struct {
	name     string
	wall     time.Duration
	cpCPU    time.Duration // control plane CPU time
	perProc  map[string]time.Duration
	cpPeak   int64         // peak summed RSS of the control plane, bytes
	selfCPU  time.Duration // this process (labspace) CPU time
	selfPeak int64
}

func run(n, clients int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "labspace-bench-kube")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	benchkit.Progress("starting the control plane")
	c, err := kubetest.StartWith(ctx, dir, kubetest.Options{TunedRates: true}) // as the figures in docs/benchmarks.md were taken
	if err != nil {
		return err
	}
	defer c.Stop()
	benchkit.Progress("floor: %d pods with client-go", n)
	floor, err := measure(c, "client-go: create pods, wait until ready", func() error { return directPods(ctx, c, n, clients) })
	if err != nil {
		return err
	}
	benchkit.Progress("labspace: %d workspaces through the API", n)
	ls, err := measure(c, "labspace: create workspaces, wait until Running", func() error {
		return benchkit.WithProfile(cpuprofile, func() error { return workspaces(ctx, c, filepath.Join(dir, "labspace"), n, clients) })
	})
	if err != nil {
		return err
	}
	report(n, clients, floor, ls)
	perProcess(floor, ls)
	return nil
}

// measure runs fn, sampling the control plane's memory every 50ms.
func measure(c *kubetest.Cluster, name string, fn func() error) (side, error) {
	s := side{name: name}
	pids := c.Pids()
	cpu0, self0 := cpuByProc(pids), selfCPU()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			s.cpPeak = max(s.cpPeak, rssOf(pids))
			s.selfPeak = max(s.selfPeak, rssOf(map[string]int{"self": os.Getpid()}))
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	err := fn()
	s.wall = time.Since(start)
	close(done)
	wg.Wait()
	s.perProc, s.selfCPU = cpuByProc(pids), selfCPU()-self0
	for name, t := range s.perProc {
		s.perProc[name] = t - cpu0[name]
		s.cpCPU += s.perProc[name]
	}
	return s, err
}

// directPods creates n pods in a namespace of their own and waits until all are ready.
func directPods(ctx context.Context, c *kubetest.Cluster, n, clients int) error {
	ns := "floor"
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	err := parallel(n, clients, func(i int) error {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p" + strconv.Itoa(i), Namespace: ns},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "workspace", Image: "example.com/tool:1",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"),
					corev1.ResourceMemory: resource.MustParse("16Mi")}}}}}}
		_, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return err
	}
	return until(5*time.Minute, func() (bool, error) {
		list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, p := range list.Items {
			for _, cd := range p.Status.Conditions {
				if cd.Type == corev1.PodReady && cd.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready == n, nil
	})
}

// workspaces starts labspace on the cluster and n workspaces in one project.
func workspaces(ctx context.Context, c *kubetest.Cluster, dir string, n, clients int) error {
	srv, err := server.Open(ctx, server.Config{DataDir: dir, Addr: "127.0.0.1:0", AdminPassword: benchkit.AdminPassword,
		BcryptCost: 4, Kubeconfig: c.Kubeconfig, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		return err
	}
	go func() { _ = srv.Serve() }()
	defer srv.Close(context.Background())
	api := benchkit.NewClient(srv.URL())
	if api.Token, err = api.Login("admin", benchkit.AdminPassword); err != nil {
		return err
	}
	err = api.CreateToolBlocks(benchkit.ToolBlocks{Project: "bench", Compute: "tiny", Environment: "tool", Tool: "web",
		Command: []string{"serve"}})
	if err != nil {
		return err
	}
	err = parallel(n, clients, func(i int) error {
		return api.Do("POST", "/api/v1/projects/bench/workspaces", map[string]any{"name": "w" + strconv.Itoa(i),
			"environment": "tool", "compute": "tiny"}, 201, nil)
	})
	if err != nil {
		return err
	}
	benchkit.Progress("all %d created", n)
	last := time.Now()
	return until(5*time.Minute, func() (bool, error) {
		var list struct {
			Items []struct{ Status struct{ Phase string } }
		}
		if err := api.Do("GET", "/api/v1/projects/bench/workspaces?limit=1000&phase=Running", nil, 200, &list); err != nil {
			return false, err
		}
		if time.Since(last) > time.Second {
			benchkit.Progress("%d Running; pods: %s", len(list.Items), podCounts(ctx, c, "labspace-bench"))
			last = time.Now()
		}
		return len(list.Items) == n, nil
	})
}

// podCounts says how many pods exist in ns and how many are ready.
func podCounts(ctx context.Context, c *kubetest.Cluster, ns string) string {
	list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	ready := 0
	for _, p := range list.Items {
		for _, cd := range p.Status.Conditions {
			if cd.Type == corev1.PodReady && cd.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	return fmt.Sprintf("%d, %d ready", len(list.Items), ready)
}

func parallel(n, clients int, fn func(i int) error) error {
	next := make(chan int)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}

func until(within time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(within)
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done within %s", within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cpuByProc reads each process's user and system CPU time from /proc.
func cpuByProc(pids map[string]int) map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[name] = time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
	}
	return out
}

// rssOf sums the resident memory of the processes, from /proc.
func rssOf(pids map[string]int) int64 {
	var total int64
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		pages, _ := strconv.ParseInt(f[1], 10, 64)
		total += pages * int64(os.Getpagesize())
	}
	return total
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func report(n, clients int, floor, ls side) {
	fmt.Printf("## %d workspaces at once on the test cluster (%d clients; load %s)\n\n", n, clients, benchkit.LoadAvg())
	fmt.Println("| run | all ready | × floor | control plane CPU | control plane peak RSS | labspace CPU | labspace peak RSS |")
	fmt.Println("|---|--:|--:|--:|--:|--:|--:|")
	for _, s := range []side{floor, ls} {
		self, selfPeak := "-", "-"
		if s.name != floor.name {
			self, selfPeak = s.selfCPU.Round(10*time.Millisecond).String(), mib(s.selfPeak)
		}
		fmt.Printf("| %s | %s | %.2fx | %s | %s | %s | %s |\n", s.name, s.wall.Round(10*time.Millisecond),
			float64(s.wall)/float64(floor.wall), s.cpCPU.Round(10*time.Millisecond), mib(s.cpPeak), self, selfPeak)
	}
}

// perProcess lists each side's CPU time per control plane program.
func perProcess(sides ...side) {
	fmt.Println()
	fmt.Print("| control plane CPU by program |")
	for _, s := range sides {
		fmt.Printf(" %s |", strings.SplitN(s.name, ":", 2)[0])
	}
	fmt.Println()
	fmt.Println("|---|" + strings.Repeat("--:|", len(sides)))
	names := make([]string, 0, len(sides[0].perProc))
	for name := range sides[0].perProc {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Printf("| %s |", name)
		for _, s := range sides {
			fmt.Printf(" %s |", s.perProc[name].Round(10*time.Millisecond))
		}
		fmt.Println()
	}
}

func mib(b int64) string { return fmt.Sprintf("%d MiB", b>>20) }
