"""The moderation queue as CSV: the changelist's selection, streamed, safe in a spreadsheet."""

import csv

from django.http import StreamingHttpResponse
from django.utils import timezone

from portal.lib.spreadsheet import safe_cell

CSV_COLUMNS = [
    "id",
    "created_at",
    "page_code",
    "page_name",
    "page_version",
    "section",
    "kind",
    "proposed_category",
    "status",
    "resolution",
    "comment",
    "public_reply",
    "submitter",
    "by_reviewer",
    "name",
    "email",
    "moderated_by",
    "moderated_at",
]


class _Echo:
    def write(self, value):
        return value


def _csv_rows(queryset):
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(CSV_COLUMNS)
    rows = queryset.select_related(
        "mitigation", "user", "proposed_category", "moderated_by"
    ).iterator(chunk_size=2000)
    for item in rows:
        yield writer.writerow(
            [
                safe_cell(v)
                for v in [
                    item.pk,
                    timezone.localtime(item.created_at).isoformat(timespec="seconds"),
                    item.mitigation.code if item.mitigation_id else "",
                    item.mitigation.name if item.mitigation_id else "",
                    item.page_version,
                    item.section,
                    item.kind,
                    item.proposed_category.code if item.proposed_category_id else "",
                    item.status,
                    item.resolution,
                    item.comment,
                    item.public_reply,
                    item.user.get_username() if item.user_id else "",
                    item.by_reviewer,
                    item.name,
                    item.email if item.contact_consent else "",
                    item.moderated_by.get_username() if item.moderated_by_id else "",
                    item.moderated_at.isoformat(timespec="seconds") if item.moderated_at else "",
                ]
            ]
        )


def csv_response(queryset, filename="feedback.csv"):
    response = StreamingHttpResponse(_csv_rows(queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
