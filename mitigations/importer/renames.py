"""Renamed pages: a mitigation row's `previous_codes` lists the codes its page had before.

Rows are matched by `id` first. A row whose id no page has, or whose id's page is itself
renamed away by this import, takes over the existing page one of its previous codes names:
that page gets the row's id as its new code. It is the same database row, so feedback,
figures, links and the slug (the page's URL) stay with it, and its history records the
change. Renames free codes for other rows, so they are worked out for the whole file at
once: a chain (A1429 -> A1434 while A1426 -> A1429) needs no particular row order.

A row whose id already has a page while one of its previous codes names another existing
page is ambiguous by codes alone:

* if that other page is matched by id to a row of the file too, and the rows form a path
  (A1434 <- A1429 <- A1426 with A1434 and A1429 both taken), the renames were applied by
  an earlier import: nothing is renamed, so re-running an import changes nothing. Unless
  the row carries the name of the page it claims and not of its own page: then a rename
  was meant whose target is still taken, which is reported;
* if the rows form a cycle (a swap: A <- B, B <- A), the names decide: the swap is applied
  when every row carries the name of the page it claims, and taken as already applied
  when every row carries the name of its own page; anything else is reported;
* if the other page is not a row of the file, the id and the previous code name two
  different pages, which is reported.

A previous code no page has is ignored (after a rename the old code is simply unknown), and
a previous code may be listed by one row only.
"""

from collections import deque

from mitigations.importer.cells import Record
from mitigations.importer.plan import Plan
from mitigations.importer.problems import Rename, quote
from mitigations.importer.queries import filter_in
from mitigations.models import Mitigation

COLUMN = "previous_codes"


def resolve(plan: Plan, rows: dict[str, Record]):
    """Load the existing pages the rows name (by id or previous code), report conflicting
    renames, and set `plan.mitigations` (row id -> its existing page) and `plan.renames`."""
    previous = {
        code: [p for p in record.values.get(COLUMN, []) if p != code]
        for code, record in rows.items()
    }
    wanted = list(rows) + sorted({p for codes in previous.values() for p in codes} - set(rows))
    pages = {
        m.code: m for m in filter_in(Mitigation.objects.defer("search_vector"), "code", wanted)
    }
    claims = _claims(plan, rows, previous, pages)
    renames = _renames_of_free_ids(rows, pages, claims)
    renames.update(_settle_taken_ids(plan, rows, pages, claims, renames))
    renamed_away = set(renames.values())
    plan.mitigations = {}
    for code in rows:
        if code in renames:
            plan.mitigations[code] = pages[renames[code]]
        elif code in pages and code not in renamed_away:
            plan.mitigations[code] = pages[code]
    plan.renamed_to = {old: new for new, old in renames.items()}
    plan.renames = [
        Rename(renames[code], code, rows[code].values.get("name", "")) for code in rows
        if code in renames
    ]  # fmt: skip


def _problem(plan: Plan, record: Record, message: str):
    plan.problems.at(plan.tables["mitigations"], record.row, COLUMN, message)
    record.ok = False


def _claims(plan: Plan, rows, previous, pages) -> dict[str, str]:
    """{row id: the code of the existing page its previous codes name}."""
    listed_by: dict[str, str] = {}
    claims = {}
    for code, record in rows.items():
        existing = []
        for old in previous[code]:
            if old in listed_by:
                first = listed_by[old]
                _problem(
                    plan,
                    record,
                    f"{quote(old)} is also a previous code of {quote(first)} (row "
                    f"{rows[first].row.line}); an old code can pass to one page only",
                )
                continue
            listed_by[old] = code
            if old in pages:
                existing.append(old)
        if len(existing) > 1:
            _problem(
                plan,
                record,
                f"{' and '.join(quote(old) for old in existing)} all name existing pages; "
                "a row can take over one page only",
            )
        elif existing:
            claims[code] = existing[0]
    return claims


def _renames_of_free_ids(rows, pages, claims) -> dict[str, str]:
    """{new code: old code} for the rows whose id has no page, or whose id's page is
    renamed away: a rename frees the old code, which may be another row's id."""
    renames = {}
    free = deque(code for code in rows if code not in pages)
    while free:
        code = free.popleft()
        old = claims.get(code)
        if old is None:
            continue  # a new page
        renames[code] = old
        if old in rows:
            free.append(old)
    return renames


def _settle_taken_ids(plan: Plan, rows, pages, claims, renames) -> dict[str, str]:
    """Claims of rows whose id has a page that stays: already applied, a swap to apply, or
    a conflict (see the module docstring). Return the renames of the swaps to apply."""
    pending = {code: old for code, old in claims.items() if code not in renames}
    for code, old in pending.items():
        if old not in rows:
            _problem(
                plan,
                rows[code],
                f"the id {quote(code)} and the previous code {quote(old)} name two different "
                f"existing pages; {quote(old)} can pass to this row only if the page "
                f"{quote(code)} gets another id in this import (list {quote(code)} in that "
                "row's previous_codes)",
            )
    swaps = {}
    visited: set[str] = set()
    for start in pending:
        walk, code = [], start
        while code in pending and code not in visited and pending[code] in rows:
            visited.add(code)
            walk.append(code)
            code = pending[code]
        if not walk:
            continue
        follows = [_named_like(rows[c], pages[pending[c]], pages[c]) for c in walk]
        stays = [_named_like(rows[c], pages[c], pages[pending[c]]) for c in walk]
        if code != start:  # a path: renames applied before, unless a row says otherwise
            for c, follow in zip(walk, follows, strict=True):
                if follow:
                    _problem(
                        plan,
                        rows[c],
                        f"the row has the name of page {quote(pending[c])}, its previous "
                        f"code, but its id {quote(c)} names another existing page "
                        f"({quote(pages[c].name)}) that this import does not rename: give "
                        f"that page a new id in this import, with {quote(c)} in its "
                        "previous_codes",
                    )
        elif all(follows):
            swaps.update((c, pending[c]) for c in walk)
        elif not all(stays):
            cycle = ", ".join(f"{quote(pending[c])} -> {quote(c)}" for c in walk)
            _problem(
                plan,
                rows[start],
                f"the previous codes form a cycle of renames ({cycle}), and the names do not "
                "tell whether it was already applied: import the swap with the pages' names "
                "unchanged, then change the names",
            )
    return swaps


def _named_like(record: Record, page: Mitigation, other: Mitigation) -> bool:
    """The row carries the name of `page` and not of `other`."""
    name = record.values.get("name")
    return name == page.name and name != other.name
