"""The catalogue's repeated fragments (mitigation cards, the figures table and chart, a
page's source documents and classification) as Python: the HTML the templates made, made
for less.

A list page shows 20 cards and a detail page a row and a bar per figure; rendered by the
template engine each variable costs a node's resolve, localize and escape, and those loops
were half of an uncached page's CPU (bench/profile_page.py). Each value goes through the
same filter or formatter the template used (escape, floatformat, date, localize,
truncatechars, restricted_marker), so the output is the template's, byte for byte
(tests/mitigations/test_fragments.py checks it against the templates this replaced, kept
in tests/mitigations/data/).

Used from templates through `{% load catalogue_fragments %}`.
"""

import html

from django.conf import settings
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import floatformat, truncatechars
from django.utils.formats import localize
from django.utils.safestring import SafeData, mark_safe

from mitigations.templatetags.restricted_figures import restricted_marker


def esc(value) -> str:
    """django.utils.html.conditional_escape without its lazy-string wrapper (the same
    html.escape underneath)."""
    if isinstance(value, SafeData):
        return str(value)
    return html.escape(str(value))


def _text(value) -> str:
    """`{{ value }}`: localized, then escaped. Plain numbers localize to str() unless the
    thousand separator is on (django.utils.numberformat): that path skips the locale lookups."""
    if isinstance(value, str):
        return esc(value)
    if type(value) in (int, float) and not settings.USE_THOUSAND_SEPARATOR:
        text = str(value)
        if "e" not in text and "n" not in text:  # no exponent, inf or nan
            return text
    return esc(localize(value))


def cards(mitigations) -> str:
    """templates/includes/mitigation_cards.html: one <article> per mitigation."""
    out = []
    for m in mitigations:
        category = m.category
        status = ""
        if m.status != "published":
            status = (
                f'· <span class="badge page-status-{esc(m.status)}">'
                f"{esc(m.get_status_display())}</span>"
            )
        marker = ""
        summary = getattr(m, "restricted_summary", None)
        if summary:
            marker = (
                '<p class="small mb-0 mt-1 restricted-marker"><span class="visually-hidden">'
                f"Restricted figures: </span>{esc(restricted_marker(summary))}</p>"
            )
        snippet = getattr(m, "snippet", None)
        snippet = f'<p class="snippet small mb-1">{_text(snippet)}</p>' if snippet else ""
        out.append(
            f'<article class="mitigation-card">\n'
            f'  <h2><a href="{esc(m.get_absolute_url())}">{esc(m.name)}</a></h2>\n'
            f'  <p class="mb-1">{esc(m.definition)}</p>\n'
            f"  {snippet}\n"
            f'  <p class="small mb-0 text-body-secondary">\n'
            f'    <a href="{esc(category.get_absolute_url())}" class="text-reset">'
            f'<span class="code-badge">{esc(category.code)}</span> {esc(category.name)}</a>\n'
            f"    · {esc(m.code)}\n"
            f"    {status}\n"
            f"  </p>\n"
            f"  {marker}\n"
            f"</article>\n"
        )
    out.append("\n")
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


def _figure_row(f, stamp) -> str:
    restricted = f.is_restricted
    ref = f' data-ref="{esc(stamp["mark"])}"' if stamp and restricted else ""
    status = ""
    if f.preliminary:
        status += '<span class="badge text-bg-danger">Preliminary</span>'
    if f.embargo_until and restricted:
        status += (
            ' <span class="badge text-bg-dark">Embargoed until '
            f"{esc(date_filter(f.embargo_until, 'j M Y'))}</span>"
        )
    if not restricted:
        status += '<span class="badge text-bg-success">Public</span>'
    note = f'<div class="small text-body-secondary">{_text(f.note)}</div>' if f.note else ""
    if f.unit == "%":
        unit = "%"
    elif f.unit:
        unit = f" {_text(f.unit)}"
    else:
        unit = ""
    return (
        f"    <tr{ref}>\n"
        f'      <td class="figure-status" data-label="Status">{status}</td>\n'
        f'      <th scope="row" class="fw-normal" data-label="Figure">{_text(f.label)}{note}</th>\n'
        f'      <td data-label="Risk area">{_text(f.risk_area or "—")}</td>\n'
        f'      <td class="text-end" data-label="Value">{_text(floatformat(f.value, "-1"))}'
        f"{unit}</td>\n"
        f'      <td class="text-end" data-label="Sample">{_text(f.sample_size or "—")}</td>\n'
        f"    </tr>\n"
    )


def _bar(b, chart) -> str:
    stamp = chart["stamp"]
    ref = f' data-ref="{esc(stamp["mark"])}"' if stamp else ""
    if b["kind"] == "preliminary":
        rect = f'<rect class="bar-preliminary" fill="url(#fig-hatch)"{ref}'
    elif b["kind"] == "embargoed":
        rect = f'<rect class="bar-embargoed" fill="url(#fig-dots)"{ref}'
    else:
        rect = '<rect class="bar"'
    status = f" · {_text(b['status'])}" if b["status"] else ""
    return (
        f'    <text class="chart-label" x="0" y="{_text(b["label_y"])}">'
        f"{_text(truncatechars(b['label'], 30))}{status}</text>\n"
        f'    <rect class="track" x="0" y="{_text(b["bar_y"])}" '
        f'width="{_text(chart["bar_width"])}" height="{_text(chart["bar_height"])}" '
        f'rx="3"></rect>\n'
        f'    {rect} x="0" y="{_text(b["bar_y"])}" width="{_text(b["width"])}" '
        f'height="{_text(chart["bar_height"])}" rx="3"></rect>\n'
        f'    <text x="{_text(chart["value_x"])}" y="{_text(b["text_y"])}">'
        f"{_text(floatformat(b['value'], '-1'))}%</text>\n"
    )


_PATTERNS = (
    "<defs>\n"
    '      <pattern id="fig-hatch" patternUnits="userSpaceOnUse" width="6" height="6" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f6d5d6"></rect>'
    '<rect width="3" height="6" fill="#a4161a"></rect></pattern>\n'
    '      <pattern id="fig-dots" patternUnits="userSpaceOnUse" width="6" height="6">'
    '<rect width="6" height="6" fill="#d9d9e0"></rect>'
    '<circle cx="3" cy="3" r="1.8" fill="#212529"></circle></pattern>\n'
    "    </defs>"
)


def _chart(chart) -> str:
    restricted = chart["has_preliminary"] or chart["has_embargoed"]
    width, height = _text(chart["total_width"]), _text(chart["height"])
    stamp = ""
    if chart["stamp"]:
        stamp = (
            f'<text class="chart-stamp" x="0" y="{_text(chart["stamp_y"])}">'
            f"{_text(chart['stamp']['text'])}</text>"
        )
    caption = "Share of experts, in percent."
    if chart["has_preliminary"]:
        caption += " Hatched bars are preliminary."
    if chart["has_embargoed"]:
        caption += " Dotted bars are under embargo."
    if restricted:
        caption += " Each restricted bar's label says which it is."
    return (
        '<figure class="mt-3">\n'
        '  <svg class="figure-chart" role="img" aria-labelledby="chart-title chart-desc" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'xmlns="http://www.w3.org/2000/svg">\n'
        '    <title id="chart-title">Bar chart of the percentage figures</title>\n'
        '    <desc id="chart-desc">The same values as the table above, on a scale from 0 to '
        "100 percent.</desc>\n"
        f"    {_PATTERNS if restricted else ''}\n"
        + "".join(f"    \n{_bar(b, chart)}" for b in chart["bars"])
        + "    \n"
        f"    {stamp}\n"
        "  </svg>\n"
        f'  <figcaption class="small text-body-secondary">{caption}</figcaption>\n'
        "</figure>\n"
    )


def figures(figures, stamp, chart) -> str:
    """templates/mitigations/includes/figures.html: the figures table, then the chart."""
    sample = " (sample size shown per row)" if figures and figures[0].sample_size else ""
    stamp_text = f' <span class="figure-stamp">· {_text(stamp["text"])}</span>' if stamp else ""
    html = (
        '\n\n<div class="figures-wrap" role="region" aria-labelledby="figures-caption">\n'
        '<table class="table table-sm align-middle figures-table stack-on-phone">\n'
        f'  <caption id="figures-caption">Figures for this mitigation{sample}{stamp_text}'
        "</caption>\n"
        '  <thead><tr><th scope="col">Status</th><th scope="col">Figure</th>'
        '<th scope="col">Risk area</th><th scope="col" class="text-end">Value</th>'
        '<th scope="col" class="text-end">Sample</th></tr></thead>\n'
        "  <tbody>\n"
        + "".join(f"  \n{_figure_row(f, stamp)}" for f in figures)
        + "  \n  </tbody>\n</table>\n</div>\n"
    )
    if chart:
        html += "\n" + _chart(chart)
    return mark_safe(html + "\n")  # noqa: S308 - every value above is escaped


def sources(documents) -> str:
    """The detail page's source documents (tests/mitigations/data/templates/sources.html)."""
    out = []
    for s in documents:
        link = f' · <a href="{esc(s.url)}" rel="noopener">Link</a>' if s.url else ""
        doi = f' · DOI <a href="{esc(s.doi_url)}" rel="noopener">{esc(s.doi)}</a>' if s.doi else ""
        abstract = ""
        if s.abstract:
            abstract = (
                "<details><summary>Abstract</summary>"
                f'<p class="mt-2 small">{_text(s.abstract)}</p></details>'
            )
        out.append(
            '\n    <div class="mb-3">\n'
            f'      <p class="mb-0"><a href="{esc(s.get_absolute_url())}">{_text(s.title)}</a>'
            "</p>\n"
            f'      <p class="small mb-1">{_text(s.authors_display)} ({_text(s.year)}){link}{doi}'
            "</p>\n"
            f"      {abstract}\n"
            "    </div>\n    "
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


def facet_rows(facets) -> str:
    """The detail page's classification rows (tests/mitigations/data/templates/facets.html):
    (label, primary facet or None, other facets) each."""
    out = []
    for label, primary, others in facets:
        if primary:
            chosen = (
                f'<a class="facet-badge primary" href="{esc(primary.get_absolute_url())}">'
                f'{_text(primary.name)}</a> <span class="small">{_text(primary.description)}</span>'
            )
        else:
            chosen = '<span class="text-body-secondary">Not classified</span>'
        also = ""
        if others:
            also = (
                '<div class="mt-1"><span class="small text-body-secondary">Also:</span> '
                + "".join(
                    f'<a class="facet-badge" href="{esc(o.get_absolute_url())}" '
                    f'title="{esc(o.description)}">{_text(o.name)}</a>'
                    for o in others
                )
                + "</div>"
            )
        out.append(
            f'\n      <dt class="col-sm-3">{_text(label)}</dt>\n'
            '      <dd class="col-sm-9">\n'
            f"        {chosen}\n"
            f"        {also}\n"
            "      </dd>\n    "
        )
    return mark_safe("".join(out))  # noqa: S308 - every value above is escaped
