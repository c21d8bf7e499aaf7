package kubebench

import (
	"bufio"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labspace/labspace/bench/benchkit"
)

// Samples are the values of labspace's /metrics: by series as written
// ("name{labels}") and, summed over their labels, by metric name.
type Samples map[string]float64

// Running is how many workspaces labspace counts Running
// (labspace_workspaces, one indexed count in its store).
func (m Samples) Running() int { return int(m[`labspace_workspaces{phase="Running"}`]) }

// Every is how long to wait before reading labspace's count of got (of n)
// again: coarse until nine in ten are counted, fine after. A read of
// /metrics costs labspace more the more workspaces run (six series each),
// and only the last readings decide the time measured.
func Every(got, n int, coarse, fine time.Duration) time.Duration {
	if got*10 >= n*9 {
		return fine
	}
	return coarse
}

// Scrape reads labspace's /metrics.
func Scrape(api *benchkit.Client) (Samples, error) {
	res, err := api.HC.Get(api.Base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	m := Samples{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		cut := strings.LastIndexByte(line, ' ')
		if line == "" || line[0] == '#' || cut < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[cut+1:], 64)
		if err != nil {
			return nil, err
		}
		series := line[:cut]
		m[series] = v
		if name, _, ok := strings.Cut(series, "{"); ok {
			m[name] += v
		}
	}
	return m, sc.Err()
}

// CountListed pages through list (a path with a query) 1000 items (the
// most) at a time and counts the items.
func CountListed(api *benchkit.Client, list string) (int, error) {
	count, next := 0, ""
	for {
		var page struct {
			Items    []struct{} `json:"items"`
			Continue string     `json:"continue"`
		}
		path := list + "&limit=1000"
		if next != "" {
			path += "&continue=" + url.QueryEscape(next)
		}
		if err := api.Do("GET", path, nil, 200, &page); err != nil {
			return 0, err
		}
		count += len(page.Items)
		if page.Continue == "" {
			return count, nil
		}
		next = page.Continue
	}
}
