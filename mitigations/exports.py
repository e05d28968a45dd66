"""Catalogue downloads (CSV, JSON), through the policy.

A download is built from several queries (mitigations, their links, figures, taxonomy,
facets, sources). They all read one snapshot of the database (`read_snapshot`), so an
import committing while a download is being built shows up in it entirely or not at all,
never half (mitigations of before the import with figures of after it). The tables are
built in full inside the snapshot and the transaction ends before the response is sent: no
transaction stays open while a slow client reads. (The catalogue is bounded: the whole
export is a few MB. Streaming it would mean holding the snapshot until the client has
read the last byte.) The feed (feeds.py) and the sitemap (sitemaps.py) are one query each,
a snapshot by nature.
"""

import contextlib
import csv
import io
import json

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import Http404, HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers

from mitigations import dataset
from mitigations.filters import MitigationFilter, set_parameters
from mitigations.models import Figure, Mitigation
from portal.lib import access, stamps
from portal.lib.spreadsheet import safe_cell


@contextlib.contextmanager
def read_snapshot(using=DEFAULT_DB_ALIAS):
    """Run the queries inside the block on one snapshot of the database.

    PostgreSQL: a REPEATABLE READ, READ ONLY transaction; its snapshot is taken at its first
    query and every later query sees the same committed state. SQLite: a deferred (read)
    transaction: under WAL its first read fixes the snapshot, and writers keep writing
    meanwhile (the portal's own transactions are BEGIN IMMEDIATE, which would take the
    write lock; a read does not need it). Inside an existing transaction (tests, a caller's
    atomic block) the queries already share that transaction, whose isolation level can no
    longer be changed: the block runs as it is.
    """
    conn = connections[using]
    if conn.in_atomic_block or not conn.get_autocommit():
        yield
        return
    if conn.vendor == "postgresql":
        with transaction.atomic(using=using):
            with conn.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
        return
    if conn.vendor == "sqlite":
        conn.ensure_connection()
        with conn.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            with conn.cursor() as cursor:
                cursor.execute("ROLLBACK")  # nothing was written: just end the read
        return
    with transaction.atomic(using=using):
        yield


def private_or_public(request, response):
    """Cache headers of a catalogue document (download, feed): what a signed-in user gets
    depends on their role, so it is private and not stored; anonymous readers share it."""
    patch_vary_headers(response, ["Cookie"])
    if request.user.is_authenticated:
        patch_cache_control(response, private=True, no_store=True)
    else:
        patch_cache_control(response, public=True, max_age=60)
    return response


def _filtered(request, mitigations):
    """The list's filters and search, when the download link carried them (the results the
    reader was looking at); the visible catalogue otherwise, or when they are not valid."""
    params = request.GET.copy()
    params.pop("page", None)
    if not set_parameters(params):
        return mitigations
    filterset = MitigationFilter(params, queryset=mitigations, user=request.user)
    return filterset.qs if filterset.is_valid() else mitigations


def export(request, fmt):
    if fmt not in ("json", "csv"):
        raise Http404
    with read_snapshot():
        mitigations = _filtered(request, Mitigation.objects.visible_to(request.user))
        figures = Figure.objects.visible_to(request.user).filter(
            mitigation__in=mitigations.values("pk")
        )
        tables = dataset.export_tables(mitigations, figures)
        day = access.today()
        stamp = _stamp(request.user, figures, day)
    if fmt == "json":
        document = {**tables, "stamp": stamps.for_document(request.user, day)} if stamp else tables
        body = json.dumps(document, ensure_ascii=False, indent=1)
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="mitigations.json"'
    else:
        response = HttpResponse(_wide_csv(tables, stamp), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="mitigations.csv"'
    return private_or_public(request, response)


def _stamp(user, figures, day):
    """The viewer's stamp (portal/lib/stamps.py) when the download holds restricted figures."""
    if not access.can_see_restricted_figures(user):
        return None
    if not figures.filter(access.restricted_q()).exists():
        return None
    return stamps.for_viewer(user, day)


FIGURE_COLUMNS = [c for c in dataset.COLUMNS["figures"] if c != "mitigation_id"]


def _wide_csv(tables, stamp=None) -> str:
    """Tidy CSV: one row per mitigation and visible figure (figure_* columns), or one row
    with empty figure columns for a mitigation without visible figures. With restricted
    figures a last comment row carries the viewer's stamp.

    For people and their spreadsheets, not for re-import: cells that a spreadsheet would
    read as a formula are neutralised (the JSON download is the exact format)."""
    by_mitigation = {}
    for figure in tables["figures"]:
        by_mitigation.setdefault(figure["mitigation_id"], []).append(figure)
    columns = dataset.COLUMNS["mitigations"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns + [f"figure_{c}" for c in FIGURE_COLUMNS])
    for row in tables["mitigations"]:
        base = [row[c] for c in columns]
        figures = by_mitigation.get(row["id"]) or [dict.fromkeys(FIGURE_COLUMNS, "")]
        for figure in figures:
            writer.writerow([safe_cell(v) for v in base + [figure[c] for c in FIGURE_COLUMNS]])
    if stamp:  # no comma or quote in it: the row stays one unquoted "# ..." cell
        seen = stamp["text"].replace(",", "")
        mark = f"{stamps.MARK_ATTRIBUTE}={stamp['mark']}"
        writer.writerow([f"# Preliminary data - do not share or cite - {seen} ({mark})"])
    return out.getvalue()
