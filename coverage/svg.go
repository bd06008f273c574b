package coverage

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The drawing's geometry, in SVG user units (pixels at 100%).
const (
	svgWidth   = 1000
	plotLeft   = 120
	plotRight  = 985
	rowTxnY    = 34
	rowTxnH    = 26
	rowEpochY  = 70
	rowEpochH  = 16
	rowSnapY   = 96
	rowSnapH   = 16
	axisY      = 120
	labelY0    = 156 // first lane of hole labels
	laneHeight = 15
	maxLanes   = 6
	minHoleW   = 3 // a hole is never drawn narrower, however short
	charWidth  = 6.4
)

// maxDrawnHoles caps the holes drawn as shapes; all are counted in the
// title, and listed (up to MaxListed) by whoever shows the Summary.
const maxDrawnHoles = 500

// WriteSVG draws r as one self-contained SVG document (no external
// reference, no script): a version axis from 0 to the last version; a row
// of transaction backups as bars, a row of epoch endings and one of state
// snapshots as marks; the restorable frontier as a line; each gap (red,
// hatched) and overlap (orange, dotted) drawn at least a few pixels wide
// with its exact range as text beside it. Colour is never the only sign:
// holes carry a pattern and a label, and each is a focusable element with
// a title, for keyboards and screen readers. The output depends only on r.
func (r *Report) WriteSVG(w io.Writer) error {
	bw := bufio.NewWriter(w)
	d := &drawing{w: bw, r: r}
	d.draw()
	return bw.Flush()
}

type drawing struct {
	w     *bufio.Writer
	r     *Report
	lanes [maxLanes]float64 // the x where each label lane is free again
}

// x maps a version to its x coordinate: version v starts at x(v) and
// ends at x(v+1).
func (d *drawing) x(v float64) float64 {
	end := float64(d.r.Timeline.End) + 1
	return plotLeft + (plotRight-plotLeft)*v/end
}

func (d *drawing) xs(first, last uint64) (x0, w float64) {
	x0 = d.x(float64(first))
	x1 := d.x(float64(last) + 1)
	return x0, x1 - x0
}

func (d *drawing) printf(format string, args ...any) { fmt.Fprintf(d.w, format, args...) }

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func esc(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func (d *drawing) draw() {
	r := d.r
	height := labelY0 + laneHeight*d.laneCount() + 4
	title := fmt.Sprintf("Backup coverage at catalog generation %d", r.Generation)
	desc := d.description()
	d.printf(`<svg xmlns="http://www.w3.org/2000/svg" class="coverage" viewBox="0 0 %d %d" width="%d" height="%d" role="group" aria-labelledby="cov-title cov-desc" data-generation="%d" font-family="system-ui, sans-serif" font-size="11">`+"\n",
		svgWidth, height, svgWidth, height, r.Generation)
	d.printf("<title id=\"cov-title\">%s</title>\n<desc id=\"cov-desc\">%s</desc>\n", esc(title), esc(desc))
	d.printf(`<defs>
<pattern id="cov-gap" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fbe3e0"/><line x1="0" y1="0" x2="0" y2="6" stroke="#b3261e" stroke-width="3"/></pattern>
<pattern id="cov-overlap" width="5" height="5" patternUnits="userSpaceOnUse"><rect width="5" height="5" fill="#fdebc8"/><circle cx="2.5" cy="2.5" r="1.4" fill="#9a5b00"/></pattern>
</defs>
<style>.coverage g.hole:focus{outline:none}.coverage g.hole:focus rect{stroke:#000;stroke-width:2}</style>
`)
	d.printf(`<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", svgWidth, height)
	d.printf(`<text x="4" y="14" font-size="12" font-weight="bold">%s</text>`+"\n", esc(title))
	rows := []struct {
		name string
		y, h int
	}{{"transactions", rowTxnY, rowTxnH}, {"epoch endings", rowEpochY, rowEpochH}, {"state snapshots", rowSnapY, rowSnapH}}
	for _, row := range rows {
		d.printf(`<text x="4" y="%d">%s</text>`+"\n", row.y+row.h/2+4, row.name)
		d.printf(`<rect x="%d" y="%d" width="%d" height="%d" fill="#f3f4f6"/>`+"\n", plotLeft, row.y, plotRight-plotLeft, row.h)
	}
	if r.Entries == 0 && len(r.Timeline.Transactions)+len(r.Timeline.EpochEndings)+len(r.Timeline.StateSnapshots) == 0 {
		d.printf(`<text x="%d" y="%d" class="empty">the catalog holds no entries</text>`+"\n", plotLeft+8, rowTxnY+17)
	}
	d.printf(`<g class="row transactions" fill="#3b6ea5">` + "\n")
	for _, s := range r.Timeline.Transactions {
		x0, w := d.xs(s.FirstVersion, s.LastVersion)
		d.printf(`<rect x="%s" y="%d" width="%s" height="%d"><title>transactions %s, %s</title></rect>`+"\n",
			num(x0), rowTxnY, num(max(w, 1)), rowTxnH, rangeText(s.FirstVersion, s.LastVersion), plural(s.Entries, "entry", "entries"))
	}
	d.printf("</g>\n")
	d.printf(`<g class="row epoch-endings" fill="#4a4a4a">` + "\n")
	for _, s := range r.Timeline.EpochEndings {
		x0, w := d.xs(s.FirstVersion, s.LastVersion)
		d.printf(`<rect x="%s" y="%d" width="%s" height="%d"><title>epoch endings at versions %s, %s</title></rect>`+"\n",
			num(x0), rowEpochY, num(max(w, 1.5)), rowEpochH, rangeText(s.FirstVersion, s.LastVersion), plural(s.Entries, "entry", "entries"))
	}
	d.printf("</g>\n")
	d.printf(`<g class="row state-snapshots" fill="#6b4fa0">` + "\n")
	for _, s := range r.Timeline.StateSnapshots {
		x0, w := d.xs(s.FirstVersion, s.LastVersion)
		d.printf(`<rect x="%s" y="%d" width="%s" height="%d"><title>state snapshots at versions %s, %s</title></rect>`+"\n",
			num(x0), rowSnapY, num(max(w, 1.5)), rowSnapH, rangeText(s.FirstVersion, s.LastVersion), plural(s.Entries, "snapshot", "snapshots"))
	}
	d.printf("</g>\n")
	d.axis()
	d.frontier()
	d.holes()
	d.printf("</svg>\n")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (d *drawing) description() string {
	r := d.r
	var b strings.Builder
	b.WriteString(r.StateLine)
	b.WriteString(". ")
	if r.Restorable {
		fmt.Fprintf(&b, "Restorable frontier: version %d. ", r.FrontierVersion)
	} else {
		b.WriteString("Not restorable: no continuous coverage from version 0 with a state snapshot. ")
	}
	fmt.Fprintf(&b, "%s, %s.", plural(r.GapCount, "gap", "gaps"), plural(r.OverlapCount, "overlap", "overlaps"))
	return b.String()
}

func (d *drawing) axis() {
	end := d.r.Timeline.End
	d.printf(`<g class="axis" fill="#333"><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", plotLeft, axisY, plotRight, axisY)
	const ticks = 5
	for i := 0; i <= ticks; i++ {
		var v uint64
		if end > 0 {
			v = uint64(float64(end) * float64(i) / ticks)
			if i == ticks {
				v = end
			}
		}
		x := d.x(float64(v))
		if i == ticks {
			x = d.x(float64(v) + 1)
		}
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case ticks:
			anchor = "end"
		}
		d.printf(`<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#333"/><text x="%s" y="%d" text-anchor="%s">%d</text>`+"\n",
			num(x), axisY, num(x), axisY+4, num(x), axisY+15, anchor, v)
		if end == 0 {
			break
		}
	}
	d.printf(`<text x="4" y="%d">version</text></g>`+"\n", axisY+15)
}

func (d *drawing) frontier() {
	r := d.r
	if !r.Restorable {
		d.printf(`<text x="%d" y="26" fill="#b3261e" font-weight="bold" class="frontier">NOT RESTORABLE</text>`+"\n", plotLeft)
		return
	}
	x := d.x(float64(r.FrontierVersion) + 1)
	anchor := "end"
	if x < plotLeft+200 {
		anchor = "start"
	}
	d.printf(`<g class="frontier" tabindex="0" role="img" aria-label="restorable frontier: version %d"><title>restorable frontier: version %d</title>`+
		`<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#146c2e" stroke-width="2.5" stroke-dasharray="6 3"/>`+
		`<text x="%s" y="27" fill="#146c2e" font-weight="bold" text-anchor="%s">frontier %d</text></g>`+"\n",
		r.FrontierVersion, r.FrontierVersion, num(x), 20, num(x), axisY, num(x), anchor, r.FrontierVersion)
}

func (d *drawing) laneCount() int {
	n := len(d.r.Gaps) + len(d.r.Overlaps)
	return max(1, min(n, maxLanes))
}

func (d *drawing) holes() {
	r := d.r
	drawn := 0
	for i := range d.lanes {
		d.lanes[i] = math.Inf(-1)
	}
	hidden := 0
	for _, list := range []struct {
		holes []Hole
		what  string
	}{{r.Gaps, "gap"}, {r.Overlaps, "overlap"}} {
		for _, h := range list.holes {
			if drawn == maxDrawnHoles {
				hidden++
				continue
			}
			drawn++
			if !d.hole(h, list.what) {
				hidden++
			}
		}
	}
	more := r.GapCount + r.OverlapCount - drawn
	if more > 0 || hidden > 0 {
		d.printf(`<text x="%d" y="%d" fill="#333">%d more labels: see the list</text>`+"\n", plotRight, axisY-2-2, hidden+more)
	}
}

// hole draws one hole and its label; it reports whether the label found
// room in a lane (the title always holds the text).
func (d *drawing) hole(h Hole, what string) bool {
	y, hh := rowTxnY, rowTxnH
	if h.Row == EpochEndings {
		y, hh = rowEpochY, rowEpochH
	}
	x0, w := d.xs(h.FirstVersion, h.LastVersion)
	if w < minHoleW {
		x0 -= (minHoleW - w) / 2
		w = minHoleW
	}
	row := "transactions"
	if h.Row == EpochEndings {
		row = "epoch endings"
	}
	text := fmt.Sprintf("%s in %s: %s", what, row, h.Text())
	if h.Entries > 0 {
		text += fmt.Sprintf(", %d entries", h.Entries)
	}
	label := strings.ToUpper(what) + " " + h.Text()
	fill, stroke := "url(#cov-gap)", "#b3261e"
	if what == "overlap" {
		fill, stroke = "url(#cov-overlap)", "#9a5b00"
	}
	// The label goes in the first lane free at its x, with a leader line
	// from the hole down to it.
	lw := float64(len(label))*charWidth + 6
	lx := max(float64(plotLeft), min(x0, svgWidth-lw-2))
	lane := -1
	for i := 0; i < d.laneCount(); i++ {
		if d.lanes[i] <= lx {
			lane = i
			break
		}
	}
	d.printf(`<g class="hole %s" tabindex="0" role="img" aria-label="%s" data-first="%d" data-last="%d"><title>%s</title>`,
		what, esc(text), h.FirstVersion, h.LastVersion, esc(text))
	d.printf(`<rect x="%s" y="%d" width="%s" height="%d" fill="%s" stroke="%s" stroke-width="1"/>`, num(x0), y-2, num(w), hh+4, fill, stroke)
	if lane >= 0 {
		d.lanes[lane] = lx + lw
		ly := labelY0 + lane*laneHeight
		d.printf(`<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="%s" stroke-dasharray="2 2"/>`, num(x0+w/2), y+hh+2, num(x0+w/2), ly-10, stroke)
		d.printf(`<text x="%s" y="%d" fill="%s" font-weight="bold">%s</text>`, num(lx), ly, stroke, esc(label))
	}
	d.printf("</g>\n")
	return lane >= 0
}

// WriteSVGFile writes r's drawing to path atomically: a temporary file in
// the same folder, synced, then renamed over path, so a web server or a
// sidecar publishing the folder never serves half a drawing. The file is
// readable by everyone (0644), like a textfile collector's files.
func (r *Report) WriteSVGFile(path string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write svg %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	err = r.WriteSVG(tmp)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write svg %s: %w", path, err)
	}
	return nil
}
