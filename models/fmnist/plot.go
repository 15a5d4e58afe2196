package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
)

// A small line-plot renderer writing PNG with the standard library only:
// side-by-side panels, each with a frame, ticks with labels, a title and a
// legend; series are polylines with optional point markers.

// series is one line of a panel.
type series struct {
	name   string
	x, y   []float64
	color  color.RGBA
	points bool // mark every point with a square
}

// panel is one plot.
type panel struct {
	title, xLabel string
	series        []series
	xTicks        []float64 // nil: five even ticks
	legendLow     bool      // legend in the bottom right corner instead of the top right
}

var (
	white     = color.RGBA{255, 255, 255, 255}
	black     = color.RGBA{0, 0, 0, 255}
	gridGray  = color.RGBA{225, 225, 225, 255}
	goBlue    = color.RGBA{31, 119, 180, 255}
	torchRed  = color.RGBA{214, 39, 40, 255}
	palette   = []color.RGBA{goBlue, {255, 127, 14, 255}, {44, 160, 44, 255}, {148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}}
	textGray  = color.RGBA{60, 60, 60, 255}
	panelSize = image.Pt(420, 360)
)

// renderPlot draws the panels side by side and returns the PNG bytes.
func renderPlot(panels []panel) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, panelSize.X*len(panels), panelSize.Y))
	fillRect(img, 0, 0, img.Bounds().Dx(), img.Bounds().Dy(), white)
	for i, p := range panels {
		if err := drawPanel(img, image.Rect(i*panelSize.X, 0, (i+1)*panelSize.X, panelSize.Y), p); err != nil {
			return nil, fmt.Errorf("panel %q: %w", p.title, err)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writePlot renders the panels to a PNG file.
func writePlot(path string, panels []panel) error {
	data, err := renderPlot(panels)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// axes maps data coordinates to pixels inside a plot area.
type axes struct {
	area                   image.Rectangle
	xMin, xMax, yMin, yMax float64
}

func (a axes) px(x, y float64) (int, int) {
	fx := (x - a.xMin) / (a.xMax - a.xMin)
	fy := (y - a.yMin) / (a.yMax - a.yMin)
	return a.area.Min.X + int(math.Round(fx*float64(a.area.Dx()-1))),
		a.area.Max.Y - 1 - int(math.Round(fy*float64(a.area.Dy()-1)))
}

func drawPanel(img *image.RGBA, r image.Rectangle, p panel) error {
	a, err := panelAxes(r, p)
	if err != nil {
		return err
	}
	drawText(img, r.Min.X+(r.Dx()-textWidth(p.title, 2))/2, r.Min.Y+8, p.title, 2, black)
	drawText(img, a.area.Min.X+(a.area.Dx()-textWidth(p.xLabel, 1))/2, a.area.Max.Y+24, p.xLabel, 1, textGray)
	yTicks := niceTicks(a.yMin, a.yMax, 5)
	for _, t := range yTicks {
		_, y := a.px(a.xMin, t)
		hline(img, a.area.Min.X, a.area.Max.X, y, gridGray)
		label := tickLabel(t, yTicks)
		drawText(img, a.area.Min.X-6-textWidth(label, 1), y-3, label, 1, textGray)
	}
	xTicks := p.xTicks
	if xTicks == nil {
		xTicks = niceTicks(a.xMin, a.xMax, 5)
	}
	for _, t := range xTicks {
		x, _ := a.px(t, a.yMin)
		vline(img, x, a.area.Min.Y, a.area.Max.Y, gridGray)
		label := tickLabel(t, xTicks)
		drawText(img, x-textWidth(label, 1)/2, a.area.Max.Y+6, label, 1, textGray)
	}
	frame(img, a.area, black)
	for _, s := range p.series {
		drawSeries(img, a, s)
	}
	drawLegend(img, a.area, p.series, p.legendLow)
	return nil
}

// panelAxes chooses the plot area and the data ranges (padded by 5 %).
func panelAxes(r image.Rectangle, p panel) (axes, error) {
	a := axes{area: image.Rect(r.Min.X+56, r.Min.Y+34, r.Max.X-14, r.Max.Y-40),
		xMin: math.Inf(1), xMax: math.Inf(-1), yMin: math.Inf(1), yMax: math.Inf(-1)}
	for _, s := range p.series {
		if len(s.x) != len(s.y) {
			return a, fmt.Errorf("series %q: %d x values for %d y values", s.name, len(s.x), len(s.y))
		}
		for i := range s.x {
			a.xMin, a.xMax = math.Min(a.xMin, s.x[i]), math.Max(a.xMax, s.x[i])
			a.yMin, a.yMax = math.Min(a.yMin, s.y[i]), math.Max(a.yMax, s.y[i])
		}
	}
	if math.IsInf(a.xMin, 0) {
		return a, fmt.Errorf("no data")
	}
	for _, t := range p.xTicks {
		a.xMin, a.xMax = math.Min(a.xMin, t), math.Max(a.xMax, t)
	}
	if a.xMax == a.xMin {
		a.xMax = a.xMin + 1
	}
	if a.yMax == a.yMin {
		a.yMin, a.yMax = a.yMin-1, a.yMax+1
	}
	pad := 0.05 * (a.yMax - a.yMin)
	a.yMin, a.yMax = a.yMin-pad, a.yMax+pad
	return a, nil
}

// niceTicks returns about n round values spanning [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for k := math.Ceil(lo / step); k*step <= hi+1e-9*step; k++ {
		out = append(out, k*step)
	}
	return out
}

// tickLabel prints t with as many decimals as the tick spacing needs.
func tickLabel(t float64, ticks []float64) string {
	decimals := 0
	if len(ticks) > 1 {
		step := ticks[1] - ticks[0]
		for decimals < 4 && math.Abs(step*math.Pow(10, float64(decimals))-math.Round(step*math.Pow(10, float64(decimals)))) > 1e-6 {
			decimals++
		}
	}
	return fmt.Sprintf("%.*f", decimals, t)
}

func drawSeries(img *image.RGBA, a axes, s series) {
	clip := a.area
	for i := range s.x {
		x, y := a.px(s.x[i], s.y[i])
		if i > 0 {
			x0, y0 := a.px(s.x[i-1], s.y[i-1])
			line(img, clip, x0, y0, x, y, s.color)
		}
		if s.points {
			fillRect(img, x-3, y-3, 7, 7, s.color)
		}
	}
}

// line draws a 2-pixel-thick segment (Bresenham), clipped to clip.
func line(img *image.RGBA, clip image.Rectangle, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	err := dx + dy
	for {
		for _, d := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
			if p := image.Pt(x0+d[0], y0+d[1]); p.In(clip) {
				img.SetRGBA(p.X, p.Y, c)
			}
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			x0 += sx
		}
		if e2 <= dx {
			err += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) { fillRect(img, x0, y, x1-x0, 1, c) }
func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) { fillRect(img, x, y0, 1, y1-y0, c) }

func frame(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	hline(img, r.Min.X, r.Max.X, r.Min.Y, c)
	hline(img, r.Min.X, r.Max.X, r.Max.Y-1, c)
	vline(img, r.Min.X, r.Min.Y, r.Max.Y, c)
	vline(img, r.Max.X-1, r.Min.Y, r.Max.Y, c)
}

// drawLegend lists the series in the plot area's top (or bottom) right
// corner.
func drawLegend(img *image.RGBA, area image.Rectangle, ss []series, low bool) {
	width := 0
	for _, s := range ss {
		width = max(width, textWidth(s.name, 1))
	}
	x := area.Max.X - width - 34
	y := area.Min.Y + 8
	if low {
		y = area.Max.Y - 14*len(ss) - 6
	}
	fillRect(img, x-6, y-4, width+38, 14*len(ss)+4, white)
	for _, s := range ss {
		fillRect(img, x, y+2, 20, 3, s.color)
		drawText(img, x+26, y, s.name, 1, black)
		y += 14
	}
}
