"""'Cite this page': one version of a page in plain text, BibTeX and CSL-JSON."""

import json

from django.conf import settings
from django.utils import timezone

POLISHING_NOTE = "Page still being polished: its wording and classification may change"


def _bibtex_text(value: str) -> str:
    return value.replace("\\", "").replace("{", "(").replace("}", ")")


def citation(*, title, code, status, number, date, url, today=None):
    """The three formats of a citation of version `number` (of `date`) at `url`."""
    today = today or timezone.localdate()
    date = timezone.localtime(date).date() if hasattr(date, "tzinfo") else date
    database = settings.SITE_NAME
    polishing = status == "polishing"
    note = f"Version {number} of {date:%-d %B %Y}, id {code}"
    if polishing:
        note += f". {POLISHING_NOTE}"
    plain = (
        f"“{title}”. {database}, version {number} ({date:%-d %B %Y}). {url} "
        f"(accessed {today:%-d %B %Y})."
    )
    if polishing:
        plain += f" {POLISHING_NOTE}."
    key = f"{code.lower()}_v{number}"
    bibtex = "\n".join(
        [
            f"@misc{{{key},",
            f"  title = {{{_bibtex_text(title)}}},",
            f"  howpublished = {{{_bibtex_text(database)}}},",
            f"  year = {{{date.year}}},",
            f"  month = {{{date:%b}}},".lower(),
            f"  note = {{{_bibtex_text(note)}}},",
            f"  url = {{{url}}},",
            f"  urldate = {{{today.isoformat()}}}",
            "}",
        ]
    )
    csl = {
        "id": key,
        "type": "webpage",
        "title": title,
        "container-title": database,
        "version": str(number),
        "issued": {"date-parts": [[date.year, date.month, date.day]]},
        "accessed": {"date-parts": [[today.year, today.month, today.day]]},
        "URL": url,
        "note": note,
    }
    return {
        "plain": plain,
        "bibtex": bibtex,
        "csl_json": json.dumps([csl], ensure_ascii=False, indent=2),
        "polishing": polishing,
        "number": number,
        "date": date,
        "url": url,
    }
