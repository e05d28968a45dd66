"""Name the account(s) whose per-viewer stamp is in a leaked copy (portal/lib/stamps.py).

    manage.py trace_leak saved-page.html
    manage.py trace_leak "… 52.3% … seen by rita, 1 Dec 2026"

The argument is a file (a saved page, a CSV or JSON download, a screenshot's transcript) or
the text itself. Visible stamps ("seen by NAME, D Mon YYYY") name the account directly;
invisible marks (`data-ref="…"` in saved HTML, the CSV comment row, `"ref": "…"` in the
`stamp` of a JSON download or API response) are matched against the figure-view audit and,
for downloads that leave no audit row, against every account that may see restricted figures
over the last MARK_DAYS days.
"""

import datetime
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from mitigations.models import FigureView
from portal.lib import access, stamps

MARK_DAYS = 400


def _read(arg: str) -> str:
    path = Path(arg)
    try:
        is_file = len(arg) < 4096 and path.is_file()
    except OSError:  # not a possible file name (e.g. a pasted JSON body): the text itself
        return arg
    if not is_file:
        return arg
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError as error:
        raise CommandError(f"Cannot read {arg}: {error}") from error


def trace(text: str, today=None) -> list[dict]:
    """[{user, day, how}] for every stamp found in `text` (a user may appear more than once)."""
    User = get_user_model()
    found = []
    for username, day in stamps.find_visible(text):
        user = User.objects.filter(username=username).first()
        if user is not None:
            found.append({"user": user, "day": day, "how": "visible stamp"})
    marks = stamps.find_marks(text)
    if marks:
        for view in FigureView.objects.filter(stamp__in=marks).select_related("user"):
            found.append({"user": view.user, "day": view.day, "how": "invisible mark (audit)"})
            marks.discard(view.stamp)
    if marks:  # downloads leave no audit row: try every account that may see the figures
        last = today or access.today()
        days = [last - datetime.timedelta(days=n) for n in range(MARK_DAYS)]
        for user in User.objects.all():
            if not access.can_see_restricted_figures(access.as_account(user)):
                continue
            for day in days:
                if stamps.mark(user.pk, day) in marks:
                    found.append({"user": user, "day": day, "how": "invisible mark"})
                    marks.discard(stamps.mark(user.pk, day))
    return found


class Command(BaseCommand):
    help = "Name the account(s) whose stamp is in a leaked page, download or text."

    def add_arguments(self, parser):
        parser.add_argument("file_or_text")

    def handle(self, file_or_text, **options):
        found = trace(_read(file_or_text))
        if not found:
            self.stdout.write("No stamp found.")
            return
        seen = set()
        for hit in found:
            key = (hit["user"].pk, hit["day"], hit["how"])
            if key in seen:
                continue
            seen.add(key)
            user = hit["user"]
            self.stdout.write(
                f"{user.get_username()} (id {user.pk}, {user.email or 'no email'}): "
                f"{hit['how']} of {hit['day']:%d %b %Y}"
            )
