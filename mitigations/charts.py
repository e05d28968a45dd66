"""A small server-rendered bar chart of percentage figures (SVG, no JavaScript).

Laid out for phones too: each figure's label sits on its own line above its bar, so the
drawing is narrow enough (TOTAL_WIDTH) to be shown at its own size on a 375 px screen and
its text stays at the stylesheet's size (13 px) instead of being scaled down.

Restricted bars are told apart without colour: preliminary bars are hatched, embargoed ones
dotted, and the label says which ("preliminary", "embargoed until 30 Jun 2027").
"""

from django.utils.dateformat import format as date_format

from portal.lib import access

ROW_HEIGHT = 46
BAR_WIDTH = 270
BAR_HEIGHT = 18
TOTAL_WIDTH = 340
STAMP_HEIGHT = 22


def _status(figure, now):
    """('preliminary' | 'embargoed' | '', its label)."""
    day = access.today(now)
    embargoed = figure.embargo_until is not None and figure.embargo_until > day
    if figure.preliminary:
        label = "preliminary"
        if embargoed:
            label += f", embargoed until {date_format(figure.embargo_until, 'j M Y')}"
        return "preliminary", label
    if embargoed:
        return "embargoed", f"embargoed until {date_format(figure.embargo_until, 'j M Y')}"
    return "", ""


def figure_chart(figures, now=None, stamp=None):
    """Geometry for the template's SVG: one bar per percentage figure, 0–100 scale.

    `stamp` (portal/lib/stamps.py) is drawn under the bars when restricted bars are shown."""
    bars = []
    for figure in figures:
        if figure.unit != "%":
            continue
        value = max(0.0, min(100.0, float(figure.value)))
        y = len(bars) * ROW_HEIGHT
        kind, status = _status(figure, now)
        bars.append(
            {
                "label": figure.risk_area or figure.label,
                "status": status,
                "kind": kind,
                "value": figure.value,
                "unit": figure.unit,
                "label_y": y + 14,
                "bar_y": y + 20,
                "text_y": y + 34,
                "width": round(BAR_WIDTH * value / 100, 1),
            }
        )
    if not bars:
        return None
    height = len(bars) * ROW_HEIGHT
    show_stamp = stamp is not None and any(b["kind"] for b in bars)
    return {
        "bars": bars,
        "height": height + (STAMP_HEIGHT if show_stamp else 0),
        "bar_width": BAR_WIDTH,
        "bar_height": BAR_HEIGHT,
        "value_x": BAR_WIDTH + 6,
        "total_width": TOTAL_WIDTH,
        "stamp": stamp if show_stamp else None,
        "stamp_y": height + 14,
        "has_preliminary": any(b["kind"] == "preliminary" for b in bars),
        "has_embargoed": any(b["kind"] == "embargoed" for b in bars),
    }
