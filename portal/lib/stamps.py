"""Per-viewer stamps on restricted figures, so that a leaked copy can be traced.

Each preliminary or embargoed figure a signed-in viewer sees carries two stamps:

* a visible one, "seen by rev1, 1 Dec 2026" (the table's caption, the chart, exports);
* an invisible one in the markup: `data-ref="<mark>"` on the figure's row and bar, where the
  mark is an HMAC (keyed by SECRET_KEY) of the user id and the day. An attribute changes
  neither the values, their order, what a screen reader says nor what copying a number gives.

JSON documents that hold restricted figures (the JSON download, API responses) carry both
in one top-level field, `for_document`: {"notice", "seen_by", "day", "ref"}.

`find_visible` and `find_marks` pull stamps out of a leaked text, saved page or JSON body;
the `trace_leak` command turns them into accounts.
"""

import datetime
import re

from django.utils.crypto import salted_hmac
from django.utils.dateformat import format as date_format

MARK_ATTRIBUTE = "data-ref"
MARK_LENGTH = 16
VISIBLE_RE = re.compile(r"seen by (\S+?),? (\d{1,2} [A-Z][a-z]{2} \d{4})")
# The mark in markup (data-ref="…"), a CSV comment row (data-ref=…) or JSON ("ref": "…").
MARK_RE = re.compile(rf'(?:{MARK_ATTRIBUTE}="?|"ref":\s*")([0-9a-f]{{{MARK_LENGTH}}})"?')
NOTICE = "Contains preliminary or embargoed figures: do not share or cite."


def mark(user_id, day: datetime.date) -> str:
    """The invisible mark of one viewer on one day."""
    value = f"{user_id}:{day.isoformat()}"
    return salted_hmac("portal.stamps.mark", value, algorithm="sha256").hexdigest()[:MARK_LENGTH]


def visible(username: str, day: datetime.date) -> str:
    return f"seen by {username}, {date_format(day, 'j M Y')}"


def for_viewer(user, day: datetime.date) -> dict:
    """What templates and exports put on a viewer's restricted figures."""
    return {"text": visible(user.get_username(), day), "mark": mark(user.pk, day)}


def for_document(user, day: datetime.date) -> dict:
    """The `stamp` field of a JSON document holding restricted figures (download, API)."""
    stamp = for_viewer(user, day)
    return {
        "notice": NOTICE,
        "seen_by": stamp["text"],
        "day": day.isoformat(),
        "ref": stamp["mark"],
    }


def find_visible(text: str) -> list[tuple[str, datetime.date]]:
    """(username, day) of every visible stamp in `text`."""
    found = []
    for username, day in VISIBLE_RE.findall(text):
        try:
            found.append((username, datetime.datetime.strptime(day, "%d %b %Y").date()))
        except ValueError:
            continue
    return found


def find_marks(text: str) -> set[str]:
    return set(MARK_RE.findall(text))
