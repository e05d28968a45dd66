"""The admin's import, with eyes open: what a dry run would change, page by page; warnings
for pages edited in the admin since their last import; the checked files applied later
without choosing them again; problems as the editor sees their spreadsheet.

* `stage` keeps the uploaded files of a dry run in the database (StagedImport, one zip) and
  returns a signed token naming them and their editor, valid for TOKEN_SECONDS;
  `unstage` gives the files back for that token, or raises StagedImportGone ("choose the
  files again") when the token is expired, tampered with, someone else's or used already.
* `admin_edits` finds, for the pages an import would update, the last change made in the
  admin (a history version that is not an import's) after their last import.
* `spreadsheet_problem` writes a problem as "Sheet mitigations, row 12, column name: …"
  followed by the file line (`mitigations.csv:12:name`), which the command line keeps.
"""

import datetime
import difflib
import io
import uuid
import zipfile

from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Max
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from mitigations.models import Mitigation, StagedImport

TOKEN_SECONDS = 60 * 60
TOKEN_SALT = "mitigations.import-review"  # noqa: S105 - a signing salt, not a secret
IMPORT_REASON = "Import of"  # how import_dataset names its history versions
LONG_TEXT = 120  # longer old/new values are shown as a word diff


class StagedImportGone(Exception):
    """The token does not name files this editor may import (expired, tampered, used)."""


def stage(files, user) -> str:
    """Keep `files` (uploaded files) for `user`; the signed token that names them."""
    buffer = io.BytesIO()
    names = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, upload in enumerate(files):
            upload.seek(0)
            name = str(getattr(upload, "name", "") or f"upload-{i}")
            names.append(name)
            archive.writestr(f"{i:03d}", upload.read())
    _forget_old()
    staged = StagedImport.objects.create(
        id=uuid.uuid4(), user=user, names=names, data=buffer.getvalue()
    )
    return signing.dumps({"id": str(staged.id), "user": user.pk}, salt=TOKEN_SALT)


def unstage(token, user):
    """(files, staged) for a token made by `stage` for this user within the hour."""
    try:
        data = signing.loads(token or "", salt=TOKEN_SALT, max_age=TOKEN_SECONDS)
        staged_id = uuid.UUID(str(data["id"]))
        owner = int(data["user"])
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise StagedImportGone from exc
    if owner != user.pk:
        raise StagedImportGone
    staged = StagedImport.objects.filter(pk=staged_id, user=user).first()
    if staged is None:
        raise StagedImportGone
    files = []
    with zipfile.ZipFile(io.BytesIO(bytes(staged.data))) as archive:
        for i, name in enumerate(staged.names):
            files.append(SimpleUploadedFile(name, archive.read(f"{i:03d}")))
    return files, staged


def _forget_old():
    cutoff = timezone.now() - datetime.timedelta(seconds=TOKEN_SECONDS)
    StagedImport.objects.filter(created_at__lt=cutoff).delete()


def admin_edits(pages) -> dict:
    """{page pk: (username, date)} for updated pages whose last version was made in the
    admin (not by an import) after their last import: the import would undo that edit."""
    pks = [p.pk for p in pages if p.kind == "updated" and p.pk]
    if not pks:
        return {}
    history = Mitigation.history.model.objects
    latest = history.filter(id__in=pks).values("id").annotate(last=Max("history_id"))
    rows = history.filter(history_id__in=[row["last"] for row in latest]).select_related(
        "history_user"
    )
    edits = {}
    for row in rows:
        reason = row.history_change_reason or ""
        if reason.startswith(IMPORT_REASON) or row.history_type == "+" and not row.history_user:
            continue
        who = row.history_user.get_username() if row.history_user else "someone"
        edits[row.id] = (who, timezone.localtime(row.history_date))
    return edits


def _word_diff(old: str, new: str):
    a, b = old.split(" "), new.split(" ")
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(escape(" ".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            parts.append(f"<del>{escape(' '.join(a[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            parts.append(f"<ins>{escape(' '.join(b[j1:j2]))}</ins>")
    return mark_safe(" ".join(parts))  # noqa: S308 - every piece is escaped


def field_changes(page):
    """[(field, html)] for a page's changed fields: old -> new, long text as a word diff."""
    rows = []
    for name, old, new in page.fields:
        if len(old) > LONG_TEXT or len(new) > LONG_TEXT:
            rows.append(
                (name, format_html('<span class="import-diff">{}</span>', _word_diff(old, new)))
            )
        else:
            rows.append(
                (
                    name,
                    format_html(
                        '<del>{}</del> <span aria-hidden="true">→</span>'
                        '<span class="visually-hidden"> becomes </span> <ins>{}</ins>',
                        old or "(empty)",
                        new or "(empty)",
                    ),
                )
            )
    return rows


def spreadsheet_problem(problem):
    """(what the editor sees in their spreadsheet, the file line) for a Problem."""
    file = problem.file
    if "[" in file and file.endswith("]"):
        sheet, where = file[file.index("[") + 1 : -1], "item"
    else:
        sheet, where = file.rsplit(".", 1)[0] if "." in file else file, "row"
    parts = [f"Sheet {sheet}"]
    if problem.row:
        parts.append(f"{where} {problem.row}")
    if problem.column and problem.column != "-":
        parts.append(f"column {problem.column}")
    return (
        f"{', '.join(parts)}: {problem.message}",
        f"{problem.file}:{problem.row}:{problem.column}",
    )
