"""Rendering the board: README.md and index.html (one self-contained page), one section per dataset
configuration.

Each section ranks the entries that follow the configuration's protocol (`groupbench.protocols`)
by its primary score, best first. Entries under other protocols (other conventions, image counts,
data) are shown apart, in groups that share the same differences, each named and ranked on its
own: never interleaved with the ranked ones. The page adds sortable columns, filters, a bar chart
of the ranked entries (legend, full names, error bars = standard deviation over seeds, budget runs
hatched), the learning curves with labelled axes, links to paper and code, and each entry's notes
on demand; all inline, no network.
"""

from __future__ import annotations

import html
import json
import math
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from groupbench import protocols, registry
from groupbench.errors import GroupbenchError
from groupbench.leaderboard.board import Board
from groupbench.scoring import parse_metric_key
from groupbench.writer import atomic_output

METRIC_NAMES = {"ari": "ARI", "ami": "AMI", "mbo": "mBO", "miou-objects": "mIoU/objects", "miou-segments": "mIoU/segments",
                "msc": "mSC", "sc": "SC"}
MODE_NAMES = {"per-frame": "per frame", "spatiotemporal": "spatio-temporal"}
SOURCE_COLOURS = {"reported": "#8a8f98", "reproduced": "#2b6cb0", "submitted": "#2f855a"}
CURVE_COLOURS = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#2c7a7b"]
BUDGET = re.compile(r"\s*\[budget: ([^\]]+)\]")


def metric_label(key: str) -> str:
    """``ami/per-frame/skip-first`` -> ``AMI per frame, frames 1..T-1``."""
    metric, mode, frames = parse_metric_key(key)
    text = METRIC_NAMES.get(metric, metric)
    if mode:
        text += " " + MODE_NAMES[mode]
    if frames == "skip-first":
        text += ", frames 1..T-1"
    return text


@dataclass
class Row:
    """One entry as the board shows it."""

    entry: dict[str, Any]
    file: str
    differences: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return protocols.configuration_label(self.entry["dataset"]["id"], self.entry["dataset"].get("params"))

    @property
    def name(self) -> str:
        """Method and variant, in full (the budget mark apart)."""
        variant = self.variant
        return self.entry["method"] + (f" ({variant})" if variant else "")

    @property
    def variant(self) -> str:
        return BUDGET.sub("", self.entry["variant"]).strip()

    @property
    def budget(self) -> str | None:
        """The budget that stopped a run before its schedule, if one did."""
        found = BUDGET.search(self.entry["variant"])
        return (self.entry.get("compute") or {}).get("budget") or (found.group(1) if found else None)

    @property
    def source(self) -> str:
        return self.entry["source"]["type"]

    def metric(self, key: str) -> dict[str, Any] | None:
        return self.entry["metrics"].get(key)

    def value(self, key: str) -> str:
        m = self.metric(key)
        if m is None:
            return "–"
        return f"{m['mean']:.3f}" + (f" ± {m['std']:.3f}" if m["std"] is not None else "")

    def others(self, shown: str) -> str:
        """Every other score, named: ``ARI 0.934 · mBO 0.812``."""
        return " · ".join(f"{metric_label(k)} {m['mean']:.3f}" for k, m in self.entry["metrics"].items() if k != shown) or "–"

    def paper_difference(self) -> tuple[str, str]:
        """(difference from the paper's number, what it compares with); empty without a paper_result."""
        paper = self.entry.get("paper_result")
        if not paper:
            return "", ""
        mine = self.metric(paper["metric"])
        target = f"paper: {metric_label(paper['metric'])} {paper['mean']:.3f}" + (f" ± {paper['std']:.3f}" if paper.get("std") else "")
        target += f", {paper['reference']}" + (f", on {paper['dataset']}" if paper.get("dataset") else "")
        if mine is None:
            return "?", target + f" (this entry has no {paper['metric']})"
        return f"{mine['mean'] - paper['mean']:+.3f}", target

    @property
    def seeds(self) -> str:
        counts = {m["seeds"] for m in self.entry["metrics"].values()}
        return "?" if counts == {None} else str(max(c for c in counts if c is not None))

    @property
    def source_text(self) -> str:
        source = self.entry["source"]
        return f"reported ({source['reference']})" if source["type"] == "reported" else source["type"]

    @property
    def notes(self) -> list[str]:
        """Everything a reader may want on demand: notes, compute, data and convention notes, departures."""
        entry, lines = self.entry, []
        if self.budget:
            lines.append(f"Budget run: stopped by a budget ({self.budget}), not by early stopping or the paper's schedule.")
        if self.differences:
            lines.append("Not under the protocol: " + "; ".join(self.differences) + ".")
        if entry.get("notes"):
            lines.append(entry["notes"])
        compute = entry.get("compute") or {}
        done = [f"{compute['device']}" if compute.get("device") else "", f"{compute['wall_time_s']:,.0f} s" if compute.get("wall_time_s") is not None else "",
                f"{compute['steps']:,} steps" if compute.get("steps") is not None else ""]
        if any(done):
            lines.append("Compute: " + ", ".join(d for d in done if d) + ".")
        if compute.get("note"):
            lines.append(compute["note"])
        if entry["dataset"].get("note"):
            lines.append("Data: " + entry["dataset"]["note"])
        for key, metric in entry["metrics"].items():
            if metric["conventions"].get("note"):
                lines.append(f"{metric_label(key)}: {metric['conventions']['note']}")
        _, target = self.paper_difference()
        if target:
            lines.append(target[:1].upper() + target[1:] + ".")  # the names in it keep their capitals
        return lines


@dataclass
class Group:
    """Entries that depart from the protocol in the same ways, ranked among themselves."""

    differences: tuple[str, ...]
    key: str
    rows: list[Row]


@dataclass
class Section:
    """One dataset configuration: its protocol, the ranked entries and the groups shown apart."""

    label: str
    protocol: protocols.Protocol | None
    ranked: list[Row]
    apart: list[Group]

    @property
    def primary(self) -> str:
        return self.protocol.primary if self.protocol else self.apart[0].key


def sections(board: Board) -> list[Section]:
    """Every configuration with entries, in registry order, its entries classified against its protocol."""
    rows: dict[str, list[Row]] = {}
    for path, entry in board.entries(reported=board.reported):
        row = Row(entry, path.name)
        rows.setdefault(row.label, []).append(row)
    found = []
    for label in sorted(rows, key=_order):
        first = rows[label][0].entry["dataset"]
        protocol = protocols.find(first["id"], first.get("params"))
        ranked, apart = [], {}
        for row in rows[label]:
            row.differences = protocol.differences(row.entry) if protocol else ["no protocol for this configuration"]
            if row.differences:
                apart.setdefault(tuple(row.differences), []).append(row)
            else:
                ranked.append(row)
        groups = []
        for differences, members in apart.items():
            key = _shared_key(members, protocol.primary if protocol else None)
            groups.append(Group(differences, key, _ranked(members, key)))
        groups.sort(key=lambda g: (-len(g.rows), g.differences))
        found.append(Section(label, protocol, _ranked(ranked, protocol.primary) if protocol else [], groups))
    return found


def _ranked(rows: list[Row], key: str) -> list[Row]:
    return sorted(rows, key=lambda r: (r.metric(key) is None, -(r.metric(key) or {"mean": 0})["mean"], r.entry["method"], r.variant))


def _shared_key(rows: list[Row], primary: str | None) -> str:
    """The score a group is ranked by: the protocol's, else the first score every member has."""
    common = [k for k in rows[0].entry["metrics"] if all(k in r.entry["metrics"] for r in rows)]
    if primary in common:
        return primary
    base = parse_metric_key(primary)[0] if primary else None
    return next((k for k in common if parse_metric_key(k)[0] == base), common[0] if common else next(iter(rows[0].entry["metrics"])))


def _order(label: str) -> tuple[int, str]:
    ids = [s.id for s in registry.specs()]
    dataset_id = label.split("[")[0]
    return (ids.index(dataset_id) if dataset_id in ids else len(ids), label)


def _describe(section: Section) -> str:
    dataset_id = section.label.split("[")[0]
    try:
        text = registry.get(dataset_id).description + "."
    except GroupbenchError:
        text = "Dataset not registered in this installation."
    if section.protocol:
        text += f" Protocol {section.protocol.name}: {section.protocol.describe(metric_label)}. Defined by {section.protocol.defined_by}."
    return text


# --- Markdown ---------------------------------------------------------------------------------------

def _columns(key: str) -> list[str]:
    return ["#", "Method", "Variant", f"{metric_label(key)}", "Δ paper", "Other scores", "Seeds", "Images", "Source", "Date"]


def _cells(rank: int, row: Row, key: str) -> list[str]:
    images = row.entry["dataset"]["images"]
    official = "" if row.entry["dataset"]["official"] else " †"
    budget = " (budget run)" if row.budget else ""
    return [
        str(rank), row.entry["method"] + official + budget, row.variant or "–", row.value(key), row.paper_difference()[0] or "–",
        row.others(key), row.seeds, f"{images:,}" if images else "?", row.source_text, row.entry["date"],
    ]


def _markdown_table(rows: list[Row], key: str) -> list[str]:
    lines = ["| " + " | ".join(_columns(key)) + " |", "|" + "|".join("---" for _ in _columns(key)) + "|"]
    for rank, row in enumerate(rows, 1):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(rank, row, key)) + " |")
    return lines + [""]


def render_markdown(board: Board) -> str:
    lines = [
        "# groupbench leaderboard",
        "",
        "Generated by `groupbench leaderboard render` from `entries/*.json`; do not edit by hand.",
        "Each dataset configuration has a protocol (images, metric, conventions: docs/leaderboard.md). Only entries",
        "under it are ranked together; entries under other protocols follow, apart, in groups that say how they differ.",
        "Mean ± standard deviation over seeds. Sources: *reported* = copied from the paper cited; *reproduced* = run",
        "with groupbench; *submitted* = scored by groupbench from submitted predictions. † = not the official data.",
        "*(budget run)* = training stopped by a budget, not by the paper's schedule. Δ paper = this entry minus the",
        "paper's number it reproduces. Each entry's notes: index.html or its file in entries/.",
        "",
    ]
    for section in sections(board):
        lines += [f"## {section.label}", "", _describe(section), ""]
        if section.ranked:
            lines += [f"Ranked by {metric_label(section.primary)} under the protocol:", ""] + _markdown_table(section.ranked, section.primary)
            lines += _curve_lines(section.ranked)
        elif section.protocol:
            lines += ["No entry follows the protocol yet.", ""]
        for group in section.apart:
            lines += [f"Apart, not ranked with the above ({'; '.join(group.differences)}); ranked among themselves by "
                      f"{metric_label(group.key)}:", ""] + _markdown_table(group.rows, group.key) + _curve_lines(group.rows)
    return "\n".join(lines)


def _curve_lines(rows: list[Row]) -> list[str]:
    lines = []
    for rank, row in enumerate(rows, 1):
        curve = row.entry.get("curve")
        if not curve:
            continue
        first, last = curve["points"][0], curve["points"][-1]
        best = max(curve["points"], key=lambda p: p[2])
        lines.append(f"- Learning curve of #{rank} (seed {curve['seed']}, validation {curve['metric'].upper()} on "
                     f"{curve['validation_images']} images): {first[2]:.3f} after {first[0]:,} training images, "
                     f"best {best[2]:.3f} after {best[0]:,}, last {last[2]:.3f} after {last[0]:,} ({last[1]:,.0f} s); drawn in index.html.")
    return lines + ([""] if lines else [])


# --- Charts -----------------------------------------------------------------------------------------

NAME_WIDTH = 52  # characters per line of a bar's label (wrapped, never cut)


def _bar_chart(section: Section) -> str:
    """Inline SVG: one bar per ranked entry (primary score), error bar = std over seeds, budget runs hatched."""
    key = section.primary
    bars = [(row, row.metric(key)) for row in section.ranked if row.metric(key) is not None]
    if not bars:
        return ""
    width, left, line_h, pad = 880, 400, 14, 8
    scale = width - left - 70
    heights = [max(1, len(_wrap(row))) * line_h + pad for row, _ in bars]
    height = sum(heights) + 44
    parts = [
        f'<svg class="chart bars" role="img" aria-label="{html.escape(metric_label(key))} of the ranked entries on '
        f'{html.escape(section.label)}" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        '<defs><pattern id="budget-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#fff"/><rect width="3" height="6" fill="#2b6cb0"/></pattern></defs>',
    ]
    bottom = height - 34
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = left + tick * scale
        parts.append(f'<line x1="{x:.1f}" y1="6" x2="{x:.1f}" y2="{bottom}" class="grid"/>')
        parts.append(f'<text x="{x:.1f}" y="{bottom + 14}" class="tick">{tick:g}</text>')
    parts.append(f'<text x="{left + scale / 2:.0f}" y="{height - 4}" class="axis">{html.escape(metric_label(key))} '
                 f'(mean over seeds; bar: ± one standard deviation)</text>')
    y = 6
    for (row, m), row_h in zip(bars, heights):
        mean, bar_h = max(0.0, m["mean"]), min(18, row_h - pad)
        lines = _wrap(row)
        top = y + (row_h - pad - line_h * len(lines)) / 2 + 11
        label = "".join(f'<tspan x="{left - 8}" y="{top + i * line_h:.1f}">{html.escape(text)}</tspan>' for i, text in enumerate(lines))
        parts.append(f'<text class="name">{label}</text>')
        bar_y = y + (row_h - pad - bar_h) / 2
        fill = "url(#budget-hatch)" if row.budget else SOURCE_COLOURS[row.source]
        parts.append(f'<rect x="{left}" y="{bar_y:.1f}" width="{mean * scale:.1f}" height="{bar_h}" fill="{fill}" '
                     f'stroke="{SOURCE_COLOURS[row.source]}" data-source="{row.source}"><title>{html.escape(row.name)}: '
                     f'{m["mean"]:.3f}</title></rect>')
        if m["std"]:
            lo, hi = left + max(0.0, m["mean"] - m["std"]) * scale, left + min(1.0, m["mean"] + m["std"]) * scale
            mid = bar_y + bar_h / 2
            parts.append(f'<path d="M{lo:.1f},{mid:.1f} H{hi:.1f} M{lo:.1f},{mid - 5:.1f} V{mid + 5:.1f} M{hi:.1f},{mid - 5:.1f} '
                         f'V{mid + 5:.1f}" class="err"/>')
        value_x = left + (min(1.0, m["mean"] + m["std"]) if m["std"] else mean) * scale + 6
        parts.append(f'<text x="{value_x:.1f}" y="{bar_y + bar_h - 4:.1f}" class="val">{m["mean"]:.3f}</text>')
        y += row_h
    parts.append("</svg>")
    return "".join(parts)


def _wrap(row: Row) -> list[str]:
    text = row.name + (" — budget run" if row.budget else "") + ("" if row.entry["dataset"]["official"] else " †")
    return textwrap.wrap(text, NAME_WIDTH) or [text]


def _curve_chart(section: Section) -> str:
    """Inline SVG of the learning curves of the section's entries, with labelled axes and a full legend below."""
    rows = section.ranked + [r for g in section.apart for r in g.rows]
    curves = [(r, r.entry["curve"]) for r in rows if r.entry.get("curve")]
    if not curves:
        return ""
    width, height, left, right, top, bottom = 880, 260, 70, 30, 12, 46
    span = max(p[0] for _, c in curves for p in c["points"]) or 1
    x = lambda v: left + v / span * (width - left - right)  # noqa: E731
    y = lambda v: top + (1 - max(0.0, min(1.0, v))) * (height - top - bottom)  # noqa: E731
    metrics = sorted({c["metric"].upper() for _, c in curves})
    images = sorted({c["validation_images"] for _, c in curves})
    y_label = f"validation {'/'.join(metrics)} ({', '.join(map(str, images))} images)"
    parts = [f'<svg class="chart curves" role="img" aria-label="learning curves on {html.escape(section.label)}" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{left}" y1="{y(tick):.1f}" x2="{width - right}" y2="{y(tick):.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" class="ytick">{tick:g}</text>')
    for tick in _nice_ticks(span):
        parts.append(f'<line x1="{x(tick):.1f}" y1="{top}" x2="{x(tick):.1f}" y2="{height - bottom}" class="grid"/>')
        parts.append(f'<text x="{x(tick):.1f}" y="{height - bottom + 16}" class="tick">{_short(tick)}</text>')
    parts.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 8}" class="axis">training images seen '
                 f'(first seed of each entry)</text>')
    mid = (top + height - bottom) / 2
    parts.append(f'<text x="16" y="{mid:.0f}" class="axis" transform="rotate(-90 16 {mid:.0f})">{html.escape(y_label)}</text>')
    legend = []
    for index, (row, curve) in enumerate(curves):
        colour = CURVE_COLOURS[index % len(CURVE_COLOURS)]
        path = " ".join(f"{'M' if i == 0 else 'L'}{x(p[0]):.1f},{y(p[2]):.1f}" for i, p in enumerate(curve["points"]))
        last = curve["points"][-1]
        tip = f"{row.name}: {curve['metric'].upper()} {last[2]:.3f} after {last[0]:,} images, {last[1]:,.0f} s"
        parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="1.8"><title>{html.escape(tip)}</title></path>')
        parts.extend(f'<circle cx="{x(p[0]):.1f}" cy="{y(p[2]):.1f}" r="2.5" fill="{colour}"/>' for p in curve["points"])
        budget = f" — budget run ({row.budget})" if row.budget else ""
        legend.append(f'<li><span class="swatch" style="background:{colour}"></span>{html.escape(row.name + budget)}: '
                      f'{curve["metric"].upper()} {last[2]:.3f} after {last[0]:,} training images ({last[1]:,.0f} s)</li>')
    parts.append("</svg>")
    return "".join(parts) + f'<ul class="legend curve-legend">{"".join(legend)}</ul>'


def _nice_ticks(span: float) -> list[float]:
    """0 and multiples of 1, 2 or 5 x 10^k up to ``span``, about four of them."""
    step = 10 ** math.floor(math.log10(span / 4)) if span > 0 else 1
    step *= next(m for m in (1, 2, 5, 10) if span / (step * m) <= 5)
    return [i * step for i in range(int(span // step) + 1)]


def _short(value: float) -> str:
    """250000 -> 250k, 1500000 -> 1.5M."""
    return f"{value / 1e6:g}M" if value >= 1e6 else f"{value / 1e3:g}k" if value >= 1e3 else f"{value:g}"


# --- The page ---------------------------------------------------------------------------------------

PAGE_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#1a202c;padding:0 1em}
h1{margin-bottom:.2em} h2{margin-top:2em;border-bottom:1px solid #cbd5e0} h3{margin:1.2em 0 .3em;font-size:15px}
.filters{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #e2e8f0;z-index:1}
table{border-collapse:collapse;width:100%;margin:.5em 0}
th,td{padding:4px 6px;border-bottom:1px solid #e2e8f0;text-align:left;vertical-align:top}
td.num,th,td.notes summary{white-space:nowrap} td.source,td.others{font-size:12px;color:#4a5568;max-width:260px}
th{cursor:pointer;background:#f7fafc;user-select:none} th[aria-sort=ascending]::after{content:" ▲"}
th[aria-sort=descending]::after{content:" ▼"} td.num{font-variant-numeric:tabular-nums}
table.apart{background:#fcfcfd} section.apart-group{border-left:3px solid #cbd5e0;padding-left:.8em;margin-top:1em}
.chart .grid{stroke:#e2e8f0} .chart .tick{font-size:11px;text-anchor:middle;fill:#4a5568}
.chart .ytick{font-size:11px;text-anchor:end;fill:#4a5568} .chart .axis{font-size:12px;text-anchor:middle;fill:#2d3748}
.chart .name{font-size:12px;text-anchor:end} .chart .val{font-size:11px;fill:#2d3748}
.chart .err{stroke:#1a202c;stroke-width:1.5;fill:none} .note{color:#4a5568}
.legend{list-style:none;padding:0;margin:.3em 0;font-size:12px} .legend li{display:inline-block;margin-right:1.2em}
.curve-legend li{display:block} .swatch{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px;border:1px solid #718096}
.swatch.hatch{background:repeating-linear-gradient(45deg,#2b6cb0 0 2px,#fff 2px 4px)}
.badge{font-size:11px;background:#fefcbf;border:1px solid #d69e2e;border-radius:3px;padding:0 4px;margin-left:4px;white-space:nowrap}
.links a{font-size:12px;margin-right:.5em} details summary{cursor:pointer;color:#2b6cb0} details p{margin:.3em 0;max-width:520px}
"""

PAGE_SCRIPT = """
function cellValue(row, index) {
  const text = row.children[index].dataset.sort ?? row.children[index].textContent;
  const number = parseFloat(text);
  return isNaN(number) ? text.toLowerCase() : number;
}
document.querySelectorAll('table.board').forEach(table => {
  table.querySelectorAll('th').forEach((th, index) => th.addEventListener('click', () => {
    const descending = th.getAttribute('aria-sort') !== 'descending';
    table.querySelectorAll('th').forEach(other => other.removeAttribute('aria-sort'));
    th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const x = cellValue(a, index), y = cellValue(b, index);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return descending ? -order : order;
    });
    rows.forEach(row => body.appendChild(row));
  }));
});
function applyFilters() {
  const dataset = document.getElementById('dataset-filter').value;
  const source = document.getElementById('source-filter').value;
  const apart = document.getElementById('apart-filter').checked;
  document.querySelectorAll('section.dataset').forEach(section => {
    section.hidden = !!dataset && section.dataset.label !== dataset;
    section.querySelectorAll('tbody tr').forEach(row => {
      row.hidden = !!source && row.dataset.source !== source;
    });
    section.querySelectorAll('section.apart-group').forEach(group => { group.hidden = !apart; });
  });
}
['dataset-filter', 'source-filter', 'apart-filter'].forEach(id => document.getElementById(id).addEventListener('change', applyFilters));
"""

LEGEND = (
    '<ul class="legend" id="legend">'
    + "".join(f'<li><span class="swatch" style="background:{c}"></span>{s}</li>' for s, c in SOURCE_COLOURS.items())
    + '<li><span class="swatch hatch"></span>budget run (stopped by a budget, not the paper\'s schedule)</li>'
    + "<li>error bar: ± one standard deviation over seeds</li><li>† not the official data</li></ul>"
)


def _links(row: Row) -> str:
    links = [f'<a href="{html.escape(row.entry[k])}">{k}</a>' for k in ("paper", "code") if row.entry.get(k)]
    return f'<span class="links">{" ".join(links)}</span>' if links else ""


def _html_table(rows: list[Row], key: str, css: str) -> str:
    columns = ["#", "Method", "Variant", metric_label(key), "Δ paper", "Other scores", "Seeds", "Images", "Source", "Date", "Notes"]
    body = []
    for rank, row in enumerate(rows, 1):
        m, (delta, target) = row.metric(key), row.paper_difference()
        official = "" if row.entry["dataset"]["official"] else " †"
        budget = f'<span class="badge" title="{html.escape(row.budget)}">budget run</span>' if row.budget else ""
        images = row.entry["dataset"]["images"]
        notes = "".join(f"<p>{html.escape(line)}</p>" for line in row.notes)
        cells = [
            (str(rank), rank, "num"),
            (f"{html.escape(row.entry['method'] + official)}{budget}<br>{_links(row)}", row.entry["method"], "method"),
            (html.escape(row.variant or "–"), None, ""),
            (html.escape(row.value(key)), m["mean"] if m else -math.inf, "num"),
            (f'<span title="{html.escape(target)}">{html.escape(delta or "–")}</span>', float(delta) if delta not in ("", "?") else -math.inf, "num"),
            (html.escape(row.others(key)), None, "others"),
            (html.escape(row.seeds), None, "num"),
            (f"{images:,}" if images else "?", images or 0, "num"),
            (html.escape(row.source_text), None, "source"),
            (html.escape(row.entry["date"]), None, "num"),
            (f"<details><summary>notes</summary>{notes}</details>" if notes else "–", None, "notes"),
        ]
        tds = "".join(
            f'<td class="{css_class}"{f" data-sort={json.dumps(_sort_text(sort))}" if sort is not None else ""}>{content}</td>'
            for content, sort, css_class in cells
        )
        body.append(f'<tr data-source="{row.source}" data-entry="{html.escape(row.file)}">{tds}</tr>')
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    return f'<table class="board {css}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def render_html(board: Board) -> str:
    found = sections(board)
    options = "".join(f'<option value="{html.escape(s.label)}">{html.escape(s.label)}</option>' for s in found)
    parts = []
    for section in found:
        block = [f'<section class="dataset" data-label="{html.escape(section.label)}"><h2>{html.escape(section.label)}</h2>',
                 f'<p class="note">{html.escape(_describe(section))}</p>']
        if section.ranked:
            block += [f"<h3>Ranked by {html.escape(metric_label(section.primary))} under the protocol</h3>", _bar_chart(section),
                      _html_table(section.ranked, section.primary, "ranked")]
        elif section.protocol:
            block.append('<p class="note">No entry follows the protocol yet.</p>')
        for group in section.apart:
            block.append(f'<section class="apart-group"><h3>Apart, not ranked with the above: {html.escape("; ".join(group.differences))}'
                         f'</h3><p class="note">Ranked among themselves by {html.escape(metric_label(group.key))}.</p>'
                         f'{_html_table(group.rows, group.key, "apart")}</section>')
        block.append(_curve_chart(section))
        parts.append("".join(block) + "</section>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>groupbench leaderboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{PAGE_STYLE}</style></head>
<body><h1>groupbench leaderboard</h1>
<p class="note">Each dataset configuration has a protocol (which images, which metric, which conventions). Only entries
under it are ranked together, in the chart and the first table; entries under other protocols are shown apart, grouped by
how they differ. Mean ± standard deviation over seeds. Δ paper: this entry minus the paper's number it reproduces.
Click a column header to sort; "notes" opens an entry's notes.</p>
{LEGEND}
<div class="filters"><label>Dataset <select id="dataset-filter"><option value="">all</option>{options}</select></label>
<label>Source <select id="source-filter"><option value="">all</option><option>reported</option>
<option>reproduced</option><option>submitted</option></select></label>
<label><input type="checkbox" id="apart-filter" checked> entries under other protocols</label></div>
{"".join(parts)}
<script>{PAGE_SCRIPT}</script></body></html>
"""


def _sort_text(key: float | str) -> str:
    """A sort key as the page's script reads it: text, or a number as parseFloat reads it (infinities included)."""
    if isinstance(key, str):
        return key
    return "-Infinity" if key == -math.inf else repr(key)


def render(board: Board) -> tuple[Path, Path]:
    """Write README.md and index.html into the board folder."""
    markdown, page = render_markdown(board), render_html(board)
    outputs = (board.root / "README.md", board.root / "index.html")
    for path, text in zip(outputs, (markdown, page)):
        with atomic_output(path) as tmp:
            tmp.write_text(text)
    return outputs
