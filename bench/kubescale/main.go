// Command kubescale measures labspace on Kubernetes at the size clusters
// really are: by default 10,000 running workspaces on 1,000 kwok nodes in
// 100 projects, from one labspace process, on the test control plane with
// default component rates.
//
// First the floor: the same number of bare pods created with client-go in
// as many namespaces, timed with informers until all are Ready; its
// namespaces are then deleted. Then labspace (the shipped binary, `labspace
// serve --kubeconfig`, a process of its own): the start of every workspace
// timed until its API lists them all Running, its memory and CPU at rest,
// list and UI latencies with them all visible, the memory of stopped
// workspaces, and a restart (time to re-adopt, and no pod recreated).
// One round of each: at this size a round takes many minutes.
//
//	go run ./bench/kubescale                                              # the full size
//	go run ./bench/kubescale -workspaces 300 -nodes 30 -projects 10 -stopped 60
//
// The report (Markdown) goes to stdout, progress to stderr.
package main

import (
	"flag"
	"log"
	"os"
	"time"

	"github.com/labspace/labspace/bench/kubebench"
	"github.com/labspace/labspace/runtime/kube/kubetest"
)

// phaseLimit bounds every wait: a phase slower than this at the default
// size is a finding in itself, not something to wait out.
const phaseLimit = 40 * time.Minute

type opts struct {
	workspaces, nodes, projects, stopped, clients int
}

// results is every figure of a run, for the report.
type results struct {
	o         opts
	started   time.Time
	nodesUp   time.Duration
	floor     kubebench.Usage
	floorDrop time.Duration
	ls        labspaceRun
	load      string
}

func main() {
	var o opts
	flag.IntVar(&o.workspaces, "workspaces", 10000, "running workspaces (and floor pods)")
	flag.IntVar(&o.nodes, "nodes", 1000, "kwok nodes (16 cores, 64Gi, 110 pods each)")
	flag.IntVar(&o.projects, "projects", 100, "projects (and floor namespaces) the workspaces are spread over")
	flag.IntVar(&o.stopped, "stopped", 2000, "stopped workspaces created once the others run, for their memory")
	flag.IntVar(&o.clients, "c", 16, "concurrent clients sending the creations")
	flag.Parse()
	if flag.NArg() > 0 || o.workspaces < 1 || o.projects < 1 || o.nodes < 1 || o.stopped < 0 || o.clients < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if o.workspaces > o.nodes*110 {
		log.Fatalf("%d workspaces do not fit on %d nodes of 110 pods", o.workspaces, o.nodes)
	}
	if why := kubetest.Available(); why != "" {
		log.Fatal(why)
	}
	res, err := run(o)
	// What was measured before a failure is reported all the same.
	report(os.Stdout, res, err)
	if err != nil {
		log.Fatal(err)
	}
}
