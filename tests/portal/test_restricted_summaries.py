"""access.restricted_summaries: the query path and the per-data-version table agree, and
the table follows catalogue changes and the day."""

import datetime

from mitigations import views
from portal.lib import access
from tests.conftest import as_verified
from tests.factories import FigureFactory, MitigationFactory


def _pages(db_day):
    soon, later = db_day + datetime.timedelta(days=3), db_day + datetime.timedelta(days=40)
    a, b, c, d = (MitigationFactory(code=f"S{i}") for i in range(4))
    FigureFactory(mitigation=a, key="p1", preliminary=True)
    FigureFactory(mitigation=a, key="p2", preliminary=True, embargo_until=later)
    FigureFactory(mitigation=a, key="e1", embargo_until=soon)
    FigureFactory(mitigation=b, key="e1", embargo_until=later)
    FigureFactory(mitigation=c, key="public")
    FigureFactory(mitigation=c, key="lifted", embargo_until=db_day)
    return [a, b, c, d]


def test_table_and_query_agree(reviewer, db):
    day = access.today()
    pages = _pages(day)
    ids = [p.pk for p in pages]
    user = as_verified(reviewer)
    by_query = access.restricted_summaries(ids, user)
    by_table = access.restricted_summaries(ids, user, table=access.restricted_summary_table())
    assert by_query == by_table
    assert by_query[pages[0].pk] == {
        "preliminary": 2,
        "embargoed": 2,
        "first_lift": day + datetime.timedelta(days=3),
        "last_lift": day + datetime.timedelta(days=40),
    }
    assert set(by_query) == {pages[0].pk, pages[1].pk}
    # Readers get nothing, whatever the table holds.
    assert access.restricted_summaries(ids, None, table=access.restricted_summary_table()) == {}


def test_the_list_table_follows_changes(reviewer, db):
    pages = _pages(access.today())
    user = as_verified(reviewer)
    first = views.with_restricted_summaries([pages[3]], user)
    assert first[0].restricted_summary is None
    FigureFactory(mitigation=pages[3], key="new", preliminary=True)  # bumps the data version
    again = views.with_restricted_summaries([pages[3]], user)
    assert again[0].restricted_summary["preliminary"] == 1
