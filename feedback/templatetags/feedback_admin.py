"""Admin template helpers for the feedback queue."""

import calendar
import datetime

from django import template
from django.contrib.admin.templatetags.admin_list import admin_list_filter
from django.db.models import Max, Min
from django.utils import formats, timezone
from django.utils.safestring import mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from feedback.admin.rows import filter_html

register = template.Library()


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@register.inclusion_tag("admin/date_hierarchy.html")
def bounded_date_hierarchy(cl):
    """Django's date drill-down, without SELECT DISTINCT over every row.

    The stock tag lists the years/months/days that have rows, which scans the whole
    (filtered) table. This one asks only for the first and last date of the whole table
    (two index lookups, whatever the filters) and offers every period between them; an
    empty period simply shows an empty list.
    """
    field = cl.date_hierarchy
    year = _int(cl.params.get(f"{field}__year"))
    month = _int(cl.params.get(f"{field}__month"))
    day = _int(cl.params.get(f"{field}__day"))
    verbose_name = cl.model._meta.get_field(field).verbose_name

    def link(filters):
        return cl.get_query_string(filters, [f"{field}__"])

    if year is None:
        bounds = cl.root_queryset.order_by().aggregate(first=Min(field), last=Max(field))
        if not (bounds["first"] and bounds["last"]):
            return {"show": False}
        first, last = (timezone.localtime(bounds[k]) for k in ("first", "last"))
        if first.year != last.year:
            return {
                "show": True,
                "back": None,
                "field_name": verbose_name,
                "choices": [
                    {"link": link({f"{field}__year": str(y)}), "title": str(y)}
                    for y in range(first.year, last.year + 1)
                ],
            }
        year = first.year
        if first.month == last.month and month is None:
            month = first.month
    if month is None:
        return {
            "show": True,
            "field_name": verbose_name,
            "back": {"link": link({}), "title": _("All dates")},
            "choices": [
                {
                    "link": link({f"{field}__year": year, f"{field}__month": m}),
                    "title": capfirst(
                        formats.date_format(datetime.date(year, m, 1), "YEAR_MONTH_FORMAT")
                    ),
                }
                for m in range(1, 13)
            ],
        }
    if not 1 <= month <= 12 or not 1 <= year <= 9999:
        return {"show": False}
    if day is None:
        last_day = calendar.monthrange(year, month)[1]
        return {
            "show": True,
            "field_name": verbose_name,
            "back": {"link": link({f"{field}__year": year}), "title": str(year)},
            "choices": [
                {
                    "link": link(
                        {f"{field}__year": year, f"{field}__month": month, f"{field}__day": d}
                    ),
                    "title": capfirst(
                        formats.date_format(datetime.date(year, month, d), "MONTH_DAY_FORMAT")
                    ),
                }
                for d in range(1, last_day + 1)
            ],
        }
    try:
        date = datetime.date(year, month, day)
    except ValueError:
        return {"show": False}
    return {
        "show": True,
        "field_name": verbose_name,
        "back": {
            "link": link({f"{field}__year": year, f"{field}__month": month}),
            "title": capfirst(formats.date_format(date, "YEAR_MONTH_FORMAT")),
        },
        "choices": [{"title": capfirst(formats.date_format(date, "MONTH_DAY_FORMAT"))}],
    }


@register.simple_tag
def queue_filters(cl):
    """`{% for spec in cl.filter_specs %}{% admin_list_filter cl spec %}{% endfor %}`, each
    list of choices made in Python (rows.filter_html) rather than by admin/filter.html."""
    return mark_safe(  # noqa: S308 - filter_html escapes, the templates autoescape
        "".join(
            [
                f"\n{filter_html(spec.title, spec.choices(cl))}\n"
                if spec.template == "admin/filter.html"
                else admin_list_filter(cl, spec)
                for spec in cl.filter_specs
            ]
        )
    )
