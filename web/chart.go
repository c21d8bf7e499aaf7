package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/labspace/labspace/service"
)

// A project's GPUs allocated and used over the last hours, drawn on the
// server as a small SVG: the allocated GPUs as a line, the used ones as a
// filled area under it, the quota dashed. The same figures are written
// out for screen readers and for anyone who prefers words.

const (
	chartW, chartH = 320.0, 80.0
	chartSpan      = 6 * time.Hour
)

// gpuChart draws history (oldest first) against quota, ending at now.
func gpuChart(history []service.UsePoint, quota float64, now time.Time) template.HTML {
	if len(history) == 0 {
		return `<p class="muted chart-empty">No samples yet: labspace takes one a minute while it runs.</p>`
	}
	top := max(quota, 1)
	var peak float64
	known := false
	for _, p := range history {
		top, peak = max(top, p.Allocated), max(peak, p.Allocated)
		known = known || p.UsedKnown
	}
	start := now.Add(-chartSpan)
	x := func(t time.Time) float64 { return max(0, t.Sub(start).Seconds()/chartSpan.Seconds()*chartW) }
	y := func(v float64) float64 { return chartH - v/top*(chartH-4) }
	var alloc, used strings.Builder
	fmt.Fprintf(&used, "%.1f,%.1f ", x(history[0].At), chartH)
	for _, p := range history {
		fmt.Fprintf(&alloc, "%.1f,%.1f ", x(p.At), y(p.Allocated))
		fmt.Fprintf(&used, "%.1f,%.1f ", x(p.At), y(p.Used))
	}
	fmt.Fprintf(&used, "%.1f,%.1f", x(history[len(history)-1].At), chartH)
	last := history[len(history)-1]
	words := fmt.Sprintf("GPUs over the last %d h: %s allocated now, %s; at most %s allocated.",
		int(chartSpan.Hours()), gpus(last.Allocated), usedWords(last), gpus(peak))
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart"><svg viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, template.HTMLEscapeString(words))
	fmt.Fprintf(&b, `<rect class="chart-frame" x="0" y="0" width="%g" height="%g"/>`, chartW, chartH)
	if quota > 0 {
		fmt.Fprintf(&b, `<line class="chart-quota" x1="0" x2="%g" y1="%.1f" y2="%.1f"/>`, chartW, y(quota), y(quota))
	}
	if known {
		fmt.Fprintf(&b, `<polygon class="chart-used" points="%s"/>`, used.String())
	}
	fmt.Fprintf(&b, `<polyline class="chart-allocated" points="%s"/></svg>`, strings.TrimSpace(alloc.String()))
	fmt.Fprintf(&b, `<figcaption>%s <span class="key key-allocated">allocated</span> <span class="key key-used">used</span>`,
		template.HTMLEscapeString(words))
	if quota > 0 {
		b.WriteString(` <span class="key key-quota">quota</span>`)
	}
	b.WriteString(`</figcaption></figure>`)
	return template.HTML(b.String())
}

// usedWords says how much of the allocation the last sample saw used.
func usedWords(p service.UsePoint) string {
	switch {
	case p.Allocated == 0:
		return "none in use"
	case !p.UsedKnown:
		return "use unknown (no GPU readings)"
	}
	return fmt.Sprintf("%s used (%d%%)", gpus(p.Used), int(p.Used/p.Allocated*100+0.5))
}

// gpus writes a GPU count for people: "1 GPU", "2.5 GPUs".
func gpus(n float64) string {
	s := strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", n), "0"), ".")
	if s == "1" {
		return "1 GPU"
	}
	return s + " GPUs"
}
