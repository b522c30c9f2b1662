// Package svg draws the grouped bar charts of BENCHMARKS.md as standalone SVG.
package svg

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Chart is a grouped bar chart: one group of bars per entry of Groups, one bar per
// series in each group.
type Chart struct {
	Title    string
	Subtitle string
	YLabel   string
	Groups   []string
	Series   []string
	Colors   []string    // per series; a default palette when short
	Values   [][]float64 // [group][series]; NaN draws no bar ("n/a")
	Labels   [][]string  // optional text over each bar (\n: more lines); the value when empty
	Log      bool        // logarithmic y axis (values must be > 0)
	Width    float64     // pixels; 760 when 0
	Note     string      // a line under the chart
}

var palette = []string{"#8c96a3", "#2563eb", "#d97706", "#059669", "#7c3aed", "#dc2626"}

const (
	height  = 430.0
	left    = 78.0
	right   = 20.0
	top     = 64.0
	bottom  = 104.0
	plotH   = height - top - bottom
	fontCSS = `font-family="DejaVu Sans, Helvetica, Arial, sans-serif"`
)

// Format prints v with 3 significant digits.
func Format(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// niceStep returns a 1/2/5×10^k step giving about n ticks up to max.
func niceStep(max float64, n int) float64 {
	raw := max / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

// SVG renders the chart.
func (c Chart) SVG() []byte {
	width := c.Width
	if width == 0 {
		width = 760
	}
	plotW := width - left - right
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" %s font-size="12">`+"\n",
		width, height, width, height, fontCSS)
	p(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	p(`<text x="%.0f" y="24" font-size="16" font-weight="bold">%s</text>`+"\n", left, esc(c.Title))
	if c.Subtitle != "" {
		p(`<text x="%.0f" y="44" fill="#444">%s</text>`+"\n", left, esc(c.Subtitle))
	}

	// The y scale.
	max, min := 0.0, math.Inf(1)
	for _, g := range c.Values {
		for _, v := range g {
			if !math.IsNaN(v) {
				max = math.Max(max, v)
				if v > 0 {
					min = math.Min(min, v)
				}
			}
		}
	}
	if max <= 0 {
		max = 1
	}
	var y func(float64) float64
	var ticks []float64
	if c.Log {
		lo := math.Pow(10, math.Floor(math.Log10(min)))
		hi := math.Pow(10, math.Ceil(math.Log10(max)))
		if hi <= lo {
			hi = lo * 10
		}
		y = func(v float64) float64 {
			if v <= lo {
				return top + plotH
			}
			return top + plotH - plotH*(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
		}
		for t := lo; t <= hi*1.0001; t *= 10 {
			ticks = append(ticks, t)
		}
	} else {
		step := niceStep(max*1.15, 5)
		hi := math.Ceil(max*1.15/step) * step
		y = func(v float64) float64 { return top + plotH - plotH*v/hi }
		for t := 0.0; t <= hi*1.0001; t += step {
			ticks = append(ticks, t)
		}
	}
	for _, t := range ticks {
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e7eb"/>`+"\n", left, y(t), left+plotW, y(t))
		p(`<text x="%.1f" y="%.1f" text-anchor="end" fill="#444">%s</text>`+"\n", left-6, y(t)+4, esc(Format(t)))
	}
	p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", left, top+plotH, left+plotW, top+plotH)
	p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", left, top, left, top+plotH)
	p(`<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle" fill="#222">%s</text>`+"\n", top+plotH/2, esc(c.YLabel))

	// The bars.
	ng, ns := len(c.Groups), len(c.Series)
	groupW := plotW / float64(ng)
	barW := math.Min(70, groupW*0.8/float64(ns))
	for gi, g := range c.Groups {
		x0 := left + groupW*float64(gi) + (groupW-barW*float64(ns))/2
		for si := range c.Series {
			v := math.NaN()
			if gi < len(c.Values) && si < len(c.Values[gi]) {
				v = c.Values[gi][si]
			}
			x := x0 + barW*float64(si)
			label := Format(v)
			if gi < len(c.Labels) && si < len(c.Labels[gi]) && c.Labels[gi][si] != "" {
				label = c.Labels[gi][si]
			}
			if math.IsNaN(v) {
				p(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#999">n/a</text>`+"\n", x+barW/2, top+plotH-4)
				continue
			}
			yt := y(v)
			p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s: %s</title></rect>`+"\n",
				x+1, yt, barW-2, top+plotH-yt, c.color(si), esc(g), esc(c.Series[si]), esc(Format(v)))
			lines := strings.Split(label, "\n")
			for li, l := range lines {
				p(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11">%s</text>`+"\n",
					x+barW/2, yt-4-13*float64(len(lines)-1-li), esc(l))
			}
		}
		for li, l := range strings.Split(g, "\n") {
			p(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", left+groupW*(float64(gi)+0.5), top+plotH+18+14*float64(li), esc(l))
		}
	}

	// The legend and the note.
	lx := left
	ly := top + plotH + 60
	for si, s := range c.Series {
		p(`<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`+"\n", lx, ly-10, c.color(si))
		p(`<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+16, ly, esc(s))
		lx += 16 + 7.2*float64(len(s)) + 24
	}
	if c.Note != "" {
		p(`<text x="%.0f" y="%.1f" fill="#555" font-size="11">%s</text>`+"\n", left, ly+24, esc(c.Note))
	}
	p("</svg>\n")
	return b.Bytes()
}

func (c Chart) color(i int) string {
	if i < len(c.Colors) && c.Colors[i] != "" {
		return c.Colors[i]
	}
	return palette[i%len(palette)]
}

func esc(s string) string { return html.EscapeString(s) }
