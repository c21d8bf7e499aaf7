package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/labspace/labspace"
	"github.com/labspace/labspace/service"
	"github.com/labspace/labspace/store"
	"github.com/labspace/labspace/web"
)

// The grid with 5,000 workspaces visible to a researcher (1,000 in each of
// five projects, created through the service into SQLite), beside the
// service's own list of the same page as the baseline:
//
//	go test ./web/ -run '^$' -bench Grid -benchtime 2000x
//
// Each sub-benchmark reports ns/op and, from every operation's own time,
// p50-ms and p99-ms.

const benchProjects, benchPerProject = 5, 1000

var (
	benchOnce sync.Once
	benchK    *kit
	benchTok  string
)

func benchKit(b *testing.B) (*kit, string) {
	benchOnce.Do(func() {
		k := newKit(&onceTB{B: b}, "")
		var projects []string
		for p := range benchProjects {
			projects = append(projects, fmt.Sprintf("team-%d", p))
			k.project(projects[p])
		}
		benchTok = k.researcher("rita", projects...)
		for i := range benchProjects * benchPerProject {
			// Every third workspace stopped, the rest waiting: phases to filter on.
			req := &labspace.WorkspaceCreate{Name: fmt.Sprintf("ws-%05d", i), Environment: "jupyter", Compute: "cpu-small"}
			if i%3 == 0 {
				req.DesiredPhase = labspace.PhaseStopped
			}
			k.must(k.svc.CreateWorkspace(k.admin, projects[i%benchProjects], req))
		}
		benchK = k
	})
	if benchK == nil {
		b.Fatal("seeding failed")
	}
	return benchK, benchTok
}

// onceTB lets the seeding outlive the first benchmark: its temporary
// folder is made by hand and stays until the process ends.
type onceTB struct {
	*testing.B
	dir string
}

func (o *onceTB) TempDir() string {
	if o.dir == "" {
		var err error
		if o.dir, err = osMkdirTemp(); err != nil {
			o.B.Fatal(err)
		}
	}
	return o.dir
}

func (o *onceTB) Cleanup(func()) {}

// timed runs op b.N times and reports the 50th and 99th percentiles.
func timed(b *testing.B, op func()) {
	b.Helper()
	times := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		op()
		times = append(times, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(times)
	at := func(q float64) float64 { return float64(times[int(q*float64(len(times)-1))]) / 1e6 }
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

func BenchmarkGrid(b *testing.B) {
	k, tok := benchKit(b)
	a, _, err := k.svc.Authenticate(context.Background(), tok)
	if err != nil {
		b.Fatal(err)
	}
	ctx := service.WithActor(context.Background(), a)
	page := func(target string) func() {
		return func() {
			r := httptest.NewRequest("GET", target, nil)
			r.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: tok})
			w := httptest.NewRecorder()
			k.ui.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("%s: %d", target, w.Code)
			}
		}
	}
	list := func(q store.ListQuery) func() {
		return func() {
			if items, _, err := k.svc.List(ctx, labspace.KindWorkspace, q); err != nil || len(items) == 0 {
				b.Fatalf("list: %d items, %v", len(items), err)
			}
		}
	}
	b.Run("baseline-service-list-50", func(b *testing.B) { timed(b, list(store.ListQuery{Limit: 50})) })
	b.Run("page-50", func(b *testing.B) { timed(b, page("/")) })
	b.Run("baseline-service-list-200-newest", func(b *testing.B) {
		timed(b, list(store.ListQuery{Limit: 200, SortBy: "createdAt", Desc: true}))
	})
	b.Run("page-200-newest", func(b *testing.B) { timed(b, page("/?limit=200&sort=createdAt&order=desc")) })
	b.Run("page-filtered", func(b *testing.B) { timed(b, page("/?project=team-3&phase=Stopped&q=ws-04")) })
	b.Run("phases-json-50", func(b *testing.B) { timed(b, page("/workspaces/phases")) })
}
