"""Filters for the plain-text mails: text people wrote is quoted, never mixed with ours.

Every line of a comment or reply goes out as `> line`, between delimiter lines, so nothing a
submitter writes can pass for a line of the portal's own (a forged "Moderate it:" link, a
fake signature). Names are single-line (the form refuses line breaks; older rows are
flattened here)."""

import unicodedata

from django import template

register = template.Library()


@register.filter
def quoted(text):
    """Each line prefixed with '> ' (every kind of line break counts as one)."""
    lines = str(text or "").splitlines() or [""]
    return "\n".join(f"> {_printable(line)}".rstrip() for line in lines)


@register.filter
def one_line(text, limit=120):
    """Text on one line: line breaks and control characters become spaces."""
    return " ".join(_printable(str(text or "")).split())[: int(limit)]


def _printable(text: str) -> str:
    return "".join(
        " " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c != "\t" else c
        for c in text
    )
