"""Wording of restricted-figure summaries (portal/lib/access.py's `restricted_summaries`):
the cards' marker and the detail page's notice. They only word what the view was allowed to
give them; a summary reaches a template only for those who may see restricted figures."""

import functools

from django import template
from django.utils.dateformat import format as date_format
from django.utils.translation import get_language

register = template.Library()


def _day(value):
    return _day_in(value, get_language())


@functools.lru_cache(maxsize=1024)
def _day_in(value, language):
    """'30 Jun 2027' (month names in `language`, the active one): a list page's markers
    repeat a few embargo dates."""
    return date_format(value, "j M Y")


def _until(summary):
    first, last = summary.get("first_lift"), summary.get("last_lift")
    if first and last and first != last:
        return f"until {_day(last)} (first lifts {_day(first)})"
    return f"until {_day(last)}" if last else ""


@register.filter
def restricted_marker(summary):
    """'4 preliminary · 2 embargoed until 30 Jun 2027'."""
    if not summary:
        return ""
    parts = []
    if summary["preliminary"]:
        parts.append(f"{summary['preliminary']} preliminary")
    if summary["embargoed"]:
        parts.append(f"{summary['embargoed']} embargoed {_until(summary)}".strip())
    return " · ".join(parts)


def _figures(n, verb_one, verb_many):
    return f"{n} figure{'s' if n != 1 else ''} {verb_one if n == 1 else verb_many}"


@register.filter
def restricted_notice(summary):
    """'6 figures are embargoed until 30 Jun 2027; 2 are preliminary.'"""
    if not summary:
        return ""
    prelim, embargoed = summary["preliminary"], summary["embargoed"]
    if embargoed:
        text = f"{_figures(embargoed, 'is', 'are')} embargoed {_until(summary)}"
        if prelim:
            text += f"; {prelim} {'is' if prelim == 1 else 'are'} preliminary"
        return text + "."
    return f"{_figures(prelim, 'is', 'are')} preliminary."
