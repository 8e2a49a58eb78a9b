"""Server-side charts for the coordinator dashboard, rendered as inline SVG strings.

The dashboard's Content-Security-Policy forbids inline scripts and styles, so a chart is plain SVG drawn
on the server: presentation attributes (``fill``, ``stroke``, ``font-size``) instead of ``style=``, no
script, no external reference. Each chart has a ``<title>`` and a French ``<desc>`` listing every value,
so a screen reader gets the numbers the picture shows. The output depends on the input only: equal input
gives byte-equal markup, which keeps pages cacheable and tests exact.

A chart is drawn 360 units wide, about a phone's width, so its text is read near its own size there (a wider
drawing shrunk to a phone wrote 6-pixel labels); the page caps its width on a desktop.
"""

import hashlib
import html
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

TEXT = "#1f2937"  # 14.7:1 on white
INK = "#1d4ed8"  # 6.7:1 on white, bars and lines
GRID = "#d1d5db"  # decorative gridlines only, never text
NO_DATA = "Aucune donnée"
MAX_X_LABELS = 4  # "janv. 26" takes about 56 units at 13: four fit under the axis without touching
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 16, 32, 36
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Unit:
    """What a value counts, in French: singular below 2 ("0 demande", "1,5 jour"), plural from 2; the axis is
    headed with the plural."""

    one: str
    many: str

    def of(self, value: float) -> str:
        return f"{_fmt(value)} {self.one if round(value, 1) < 2 else self.many}"


@dataclass(frozen=True)
class Bar:
    """One category of a bar chart, e.g. a group and its number of requests."""

    label: str
    value: float


@dataclass(frozen=True)
class Point:
    """One step of a line chart; ``None`` means no data for that step and is drawn as a gap."""

    label: str
    value: float | None


def bar_chart(bars: Sequence[Bar], *, title: str, unit: Unit | None = None, width: int = 360,
              height: int = 240) -> str:
    """Vertical bars from 0, the value written above each bar and its label under it."""
    items = [(bar.label, bar.value) for bar in bars]

    def draw(plot: "_Plot") -> list[str]:
        out = []
        for i, (label, value) in enumerate(items):
            x, y, w = plot.x(i, len(items)), plot.y(value), plot.slot(len(items)) * 0.6
            out.append(
                f'<rect class="bar" x="{_n(x - w / 2)}" y="{_n(y)}" width="{_n(w)}" '
                f'height="{_n(plot.y1 - y)}" fill="{INK}"/>'
            )
            out.append(_text(x, y - 4, _fmt(value), "value", anchor="middle", size=12))
            out.append(_text(x, plot.y1 + 16, label, "x-label", anchor="middle"))
        return out

    return _render("bar", items, title, unit, width, height, draw)


def line_chart(points: Sequence[Point], *, title: str, unit: Unit | None = None, width: int = 360,
               height: int = 240) -> str:
    """A line per run of consecutive known values, a dot at each; a lone value between gaps is a dot only.

    At most ``MAX_X_LABELS`` labels are written under the axis (every k-th one) so they do not overlap.
    """
    items = [(point.label, point.value) for point in points]

    def draw(plot: "_Plot") -> list[str]:
        n = len(items)
        runs: list[list[tuple[float, float]]] = [[]]
        for i, (_, value) in enumerate(items):
            if value is None:
                runs.append([])
            else:
                runs[-1].append((plot.x(i, n), plot.y(value)))
        out = [
            f'<polyline class="line" points="{" ".join(f"{_n(x)},{_n(y)}" for x, y in run)}" '
            f'fill="none" stroke="{INK}" stroke-width="2" stroke-linejoin="round"/>'
            for run in runs
            if len(run) >= 2
        ]
        out += [f'<circle class="dot" cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="{INK}"/>' for run in runs for x, y in run]
        every = math.ceil(n / MAX_X_LABELS)
        out += [
            _text(plot.x(i, n), plot.y1 + 16, label, "x-label", anchor="middle")
            for i, (label, _) in enumerate(items)
            if i % every == 0
        ]
        return out

    return _render("line", items, title, unit, width, height, draw)


@dataclass(frozen=True)
class _Plot:
    """The plotting area inside the margins, and the y scale from 0 to ``top``."""

    x0: float
    x1: float
    y0: float
    y1: float
    top: float
    steps: int

    def slot(self, n: int) -> float:
        return (self.x1 - self.x0) / n

    def x(self, i: int, n: int) -> float:
        return self.x0 + self.slot(n) * (i + 0.5)

    def y(self, value: float) -> float:
        return self.y1 - value / self.top * (self.y1 - self.y0)

    def grid(self, unit: Unit | None) -> list[str]:
        out = [_text(4, 14, unit.many, "unit")] if unit else []
        for step in range(self.steps + 1):
            value = self.top * step / self.steps
            y = _n(self.y(value))
            colour = TEXT if step == 0 else GRID
            out.append(f'<line class="grid" x1="{_n(self.x0)}" y1="{y}" x2="{_n(self.x1)}" y2="{y}" stroke="{colour}"/>')
            out.append(_text(self.x0 - 6, self.y(value) + 4, _fmt(value), "tick", anchor="end"))
        return out


def _render(
    kind: str,
    items: list[tuple[str, float | None]],
    title: str,
    unit: Unit | None,
    width: int,
    height: int,
    draw: Callable[[_Plot], list[str]],
) -> str:
    """The frame shared by both charts: accessible root, title, summary, then the plot or "no data"."""
    values = [value for _, value in items if value is not None]
    if any(not math.isfinite(value) or value < 0 for value in values):
        raise ValueError("chart values must be finite and not negative")
    key = json.dumps([kind, title, unit and (unit.one, unit.many), width, height, items])
    cid = "chart-" + hashlib.sha256(key.encode()).hexdigest()[:8]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" class="chart">',
        f'<title id="{cid}-title">{_esc(title)}</title>',
        f'<desc id="{cid}-desc">{_esc(_summary(items, unit))}</desc>',
    ]
    if not any(values):
        out.append(_text(width / 2, height / 2, NO_DATA, "no-data", anchor="middle", size=14))
    else:
        top, steps = _scale(max(values))
        plot = _Plot(_LEFT, width - _RIGHT, _TOP, height - _BOTTOM, top, steps)
        out += plot.grid(unit) + draw(plot)
    out.append("</svg>")
    return "\n".join(out)


def _scale(peak: float) -> tuple[float, int]:
    """Axis top of 1, 2 or 5 × 10^k at or above the peak, with 5, 4 or 5 steps so each tick is round.

    The top is never below 1: values are shown with one decimal, so finer ticks would read "0,0".
    """
    power = 10.0 ** math.floor(math.log10(max(peak, 1)))
    mantissa = next(m for m in (1, 2, 5, 10) if m * power >= peak * (1 - 1e-12))
    return mantissa * power, 4 if mantissa == 2 else 5


def _summary(items: list[tuple[str, float | None]], unit: Unit | None) -> str:
    """What the desc reads out, e.g. « Groupe A : 12 demandes ; Groupe B : 1 demande »."""
    def said(value: float) -> str:
        return unit.of(value) if unit else _fmt(value)

    parts = [f"{label} : {'aucune donnée' if value is None else said(value)}" for label, value in items]
    return " ; ".join(parts) or NO_DATA


def _fmt(value: float) -> str:
    """French display: "12", "12,5"; one decimal at most."""
    rounded = round(value, 1)
    return str(int(rounded)) if rounded == int(rounded) else f"{rounded:.1f}".replace(".", ",")


def _n(coordinate: float) -> str:
    """A coordinate with at most two decimals, short and stable across runs."""
    return f"{coordinate:.2f}".rstrip("0").rstrip(".")


def _esc(text: str) -> str:
    """Escaped for XML text; characters XML 1.0 cannot hold at all are dropped."""
    return html.escape(_NOT_XML.sub("", text))


def _text(x: float, y: float, content: str, cls: str, *, anchor: str = "start", size: int = 13) -> str:
    return (
        f'<text class="{cls}" x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="{size}" '
        f'fill="{TEXT}">{_esc(content)}</text>'
    )
