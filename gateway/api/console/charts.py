"""SVG charts drawn on the server from an AuditSummary: denials per rule per day (stacked
bars) and the most denied subjects (horizontal bars). Every text is escaped; colours are
presentation attributes (the console's Content-Security-Policy allows no inline style)."""

from __future__ import annotations

from html import escape

from gateway.audit.summary import AuditSummary

_PALETTE = (
    "#c0392b", "#2471a3", "#d68910", "#229954", "#7d3c98",
    "#17a589", "#a04000", "#5d6d7e", "#b7950b", "#1f618d",
)  # fmt: skip
_W, _H, _LEFT, _BOTTOM, _TOP = 760, 260, 44, 56, 12


def colour(index: int) -> str:
    return _PALETTE[index % len(_PALETTE)]


def _text(x: float, y: float, body: str, **attrs: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items())
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="11"{extra}>{escape(body)}</text>'


def denials_per_rule_per_day(summary: AuditSummary) -> str:
    days = [d.day for d in summary.by_day]
    rules = [c.key for c in summary.by_rule]
    if not days or not rules:
        return _empty("no denials in this window")
    stacks: dict[str, dict[str, int]] = {day: {} for day in days}
    for point in summary.by_rule_day:
        if point.day in stacks:
            stacks[point.day][point.rule] = point.count
    peak = max(sum(s.values()) for s in stacks.values()) or 1
    plot_w, plot_h = _W - _LEFT - 10, _H - _BOTTOM - _TOP
    slot = plot_w / len(days)
    bar = min(48.0, max(2.0, slot * 0.7))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H + 18 * len(rules)}" '
        'role="img" aria-labelledby="per-rule-title" class="chart" id="chart-per-rule">',
        '<title id="per-rule-title">Denials per rule per day</title>',
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_W - 10}" y2="{_TOP + plot_h}" '
        'stroke="#888"/>',
        _text(4, _TOP + 10, str(peak)),
        _text(4, _TOP + plot_h, "0"),
    ]
    for i, day in enumerate(days):
        x = _LEFT + i * slot + (slot - bar) / 2
        y: float = _TOP + plot_h
        for r, rule in enumerate(rules):
            count = stacks[day].get(rule, 0)
            if not count:
                continue
            height = plot_h * count / peak
            y -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{colour(r)}"><title>{escape(day)} {escape(rule)}: {count}</title></rect>'
            )
        if len(days) <= 16 or i % max(1, len(days) // 12) == 0:
            parts.append(_text(x, _TOP + plot_h + 14, day[5:], fill="#444"))
    for r, rule in enumerate(rules):
        y = _H + 18 * r - 20
        parts.append(f'<rect x="{_LEFT}" y="{y - 9}" width="10" height="10" fill="{colour(r)}"/>')
        count = next(c.count for c in summary.by_rule if c.key == rule)
        parts.append(_text(_LEFT + 16, y, f"{rule} ({count})"))
    parts.append("</svg>")
    return "".join(parts)


def top_denied_subjects(summary: AuditSummary) -> str:
    subjects = summary.by_subject
    if not subjects:
        return _empty("no denied subjects in this window")
    row, label_w = 22, 180
    peak = max(c.count for c in subjects) or 1
    height = row * len(subjects) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {height}" role="img" '
        'aria-labelledby="subjects-title" class="chart" id="chart-subjects">',
        '<title id="subjects-title">Top denied subjects</title>',
    ]
    for i, c in enumerate(subjects):
        y = 5 + i * row
        width = (_W - label_w - 60) * c.count / peak
        parts.append(_text(4, y + 14, c.key[:28]))
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{row - 8}" '
            f'fill="#c0392b"><title>{escape(c.key)}: {c.count}</title></rect>'
        )
        parts.append(_text(label_w + width + 6, y + 14, str(c.count)))
    parts.append("</svg>")
    return "".join(parts)


def _empty(message: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} 40" class="chart">'
        f"{_text(10, 24, message, fill='#666')}</svg>"
    )
