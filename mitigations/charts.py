"""A small server-rendered bar chart of percentage figures (SVG, no JavaScript)."""

from portal.lib import access

ROW_HEIGHT = 28
LABEL_WIDTH = 260
BAR_WIDTH = 300


def figure_chart(figures, now=None):
    """Geometry for the template's SVG: one bar per percentage figure, 0–100 scale."""
    bars = []
    for figure in figures:
        if figure.unit != "%":
            continue
        value = max(0.0, min(100.0, float(figure.value)))
        y = len(bars) * ROW_HEIGHT
        bars.append(
            {
                "label": figure.risk_area or figure.label,
                "value": figure.value,
                "unit": figure.unit,
                "y": y,
                "text_y": y + 18,
                "width": round(BAR_WIDTH * value / 100, 1),
                "restricted": access.figure_is_restricted(figure, now),
            }
        )
    if not bars:
        return None
    return {
        "bars": bars,
        "height": len(bars) * ROW_HEIGHT,
        "label_width": LABEL_WIDTH,
        "bar_width": BAR_WIDTH,
        "value_x": LABEL_WIDTH + BAR_WIDTH + 8,
        "total_width": LABEL_WIDTH + BAR_WIDTH + 60,
    }
