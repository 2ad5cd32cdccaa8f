"""svg.py - grouped bar charts with min-max whiskers, as standalone SVG, for
the benchmark report.

bar_chart: one group per category (a thread count, a queue mix), one bar
per series (a peer); each bar is a median and carries a whisker from the
minimum to the maximum of the repetitions, so that a reader sees at once
whether two peers' ranges overlap.  The value axis may be logarithmic; a
horizontal reference line (a ratio of 1, an ideal) may be drawn.  No
dependency beyond the standard library; the output is deterministic for
given input.
"""
import math
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 400
LEFT, RIGHT, TOP, BOTTOM = 78, 170, 40, 52

PALETTE = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def color_for(name, order):
    """A stable colour per series name: tpool first (red), then by order."""
    if name in order:
        return PALETTE[order.index(name) % len(PALETTE)]
    return PALETTE[(len(order) + sum(map(ord, name))) % len(PALETTE)]


def _fmt(v):
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e9:
        return "%gG" % (v / 1e9)
    if a >= 1e6:
        return "%gM" % (v / 1e6)
    if a >= 1e4:
        return "%gk" % (v / 1e3)
    if a >= 1:
        return "%g" % round(v, 2)
    return "%.2g" % v


def _ticks(lo, hi, log):
    """Tick values covering [lo, hi]."""
    if log:
        lo_e = math.floor(math.log10(lo))
        hi_e = math.ceil(math.log10(hi))
        ticks = []
        for e in range(lo_e, hi_e + 1):
            for m in (1, 2, 5):
                v = m * 10 ** e
                if lo <= v <= hi:
                    ticks.append(v)
        if len(ticks) > 10:
            ticks = [t for t in ticks if str(t).lstrip("0.").startswith("1")]
        return ticks or [lo, hi]
    span = hi - lo
    if span <= 0:
        return [lo]
    step = 10 ** math.floor(math.log10(span / 5))
    for m in (1, 2, 5, 10):
        if span / (step * m) <= 6:
            step *= m
            break
    first = math.ceil(lo / step) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    return ticks


class _Scale:
    def __init__(self, lo, hi, log, a, b):
        if log:
            lo, hi = max(lo, 1e-12), max(hi, 1e-12)
        if hi <= lo:
            hi = lo * 2 if log else lo + 1
        self.lo, self.hi, self.log, self.a, self.b = lo, hi, log, a, b

    def __call__(self, v):
        if self.log:
            v = max(v, self.lo)
            t = (math.log(v) - math.log(self.lo)) / (
                math.log(self.hi) - math.log(self.lo))
        else:
            t = (v - self.lo) / (self.hi - self.lo)
        return self.a + t * (self.b - self.a)


def _frame(title, xlabel, ylabel):
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">'
           % (WIDTH, HEIGHT, WIDTH, HEIGHT),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>'
           % (LEFT, escape(title)),
           '<text x="%d" y="%d" text-anchor="middle">%s</text>'
           % ((LEFT + WIDTH - RIGHT) // 2, HEIGHT - 12, escape(xlabel)),
           '<text x="0" y="0" text-anchor="middle" '
           'transform="translate(18,%d) rotate(-90)">%s</text>'
           % ((TOP + HEIGHT - BOTTOM) // 2, escape(ylabel))]
    return out


def _y_axis(out, ys):
    x0, x1 = LEFT, WIDTH - RIGHT
    for t in _ticks(ys.lo, ys.hi, ys.log):
        y = ys(t)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" '
                   'stroke="#e4e4e4"/>' % (x0, y, x1, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>'
                   % (x0 - 6, y + 4, _fmt(t)))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>'
               % (x0, TOP, x0, HEIGHT - BOTTOM))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>'
               % (x0, HEIGHT - BOTTOM, x1, HEIGHT - BOTTOM))


def _legend(out, names, colors, dashed=()):
    x = WIDTH - RIGHT + 14
    for i, name in enumerate(names):
        y = TOP + 8 + 20 * i
        dash = ' stroke-dasharray="5,3"' if name in dashed else ""
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" '
                   'stroke-width="3"%s/>' % (x, y, x + 22, y, colors[name],
                                             dash))
        out.append('<text x="%d" y="%d">%s</text>' % (x + 28, y + 4,
                                                      escape(name)))


def _y_range(values, log, floor_zero):
    vals = [v for v in values if v is not None and (v > 0 or not log)]
    if not vals:
        return (1, 10) if log else (0, 1)
    lo, hi = min(vals), max(vals)
    if log:
        return lo / 1.3, hi * 1.3
    lo = 0 if floor_zero else lo - (hi - lo) * 0.1
    return lo, hi + (hi - lo) * 0.08 if hi > lo else hi + 1


def bar_chart(title, ylabel, groups, series, values, order, logy=False,
              reference=None, lows=None, highs=None, bar_from=None):
    """groups: category labels; series: bar names; values[g][s] (the
    median) or None; lows/highs[g][s]: the whisker's ends (min, max), or
    None for no whisker.  reference: optional (label, y) drawn as a
    horizontal dashed line.  bar_from: the value bars grow from (a ratio
    chart's 1, so that a ratio below it points down); the axis's foot if
    None."""
    ally = [v for row in values for v in row if v is not None]
    for extra in (lows, highs):
        if extra:
            ally += [v for row in extra for v in row if v is not None]
    if reference:
        ally.append(reference[1])
    lo, hi = _y_range(ally, logy, True)
    ys = _Scale(lo, hi, logy, HEIGHT - BOTTOM, TOP)
    out = _frame(title, "", ylabel)
    if lows or highs:
        out.append('<text x="%d" y="36" font-size="11" fill="#555">bars: '
                   'median; whiskers: min–max over the rounds</text>' % LEFT)
    _y_axis(out, ys)
    plot_w = WIDTH - RIGHT - LEFT
    gw = plot_w / max(len(groups), 1)
    bw = gw * 0.8 / max(len(series), 1)
    colors = {name: color_for(name, order) for name in series}
    base = HEIGHT - BOTTOM if bar_from is None else ys(bar_from)
    for gi, g in enumerate(groups):
        gx = LEFT + gi * gw + gw * 0.1
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                   % (gx + gw * 0.4, HEIGHT - BOTTOM + 18, escape(g)))
        for si, s in enumerate(series):
            v = values[gi][si]
            if v is None:
                continue
            y = ys(v)
            x = gx + si * bw
            w = bw * 0.92
            lo_v = lows[gi][si] if lows else None
            hi_v = highs[gi][si] if highs else None
            tip = "%s %s: %s" % (g, s, _fmt(v))
            if lo_v is not None and hi_v is not None:
                tip += " [%s–%s]" % (_fmt(lo_v), _fmt(hi_v))
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" '
                       'fill="%s"><title>%s</title></rect>'
                       % (x, min(y, base), w, max(abs(base - y), 0.5),
                          colors[s], escape(tip)))
            if lo_v is not None and hi_v is not None:
                cx = x + w / 2
                y0, y1 = ys(lo_v), ys(hi_v)
                cap = min(w * 0.3, 5)
                out.append('<path d="M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f '
                           '%.1fH%.1f" stroke="black" stroke-width="1.2" '
                           'fill="none"/>'
                           % (cx, y0, y1, cx - cap, y0, cx + cap, cx - cap,
                              y1, cx + cap))
    names = list(series)
    if reference:
        y = ys(reference[1])
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#555" '
                   'stroke-dasharray="6,4"/>' % (LEFT, y, WIDTH - RIGHT, y))
        colors[reference[0]] = "#555"
        names.append(reference[0])
    _legend(out, names, colors,
            dashed={reference[0]} if reference else set())
    out.append("</svg>")
    return "\n".join(out) + "\n"
