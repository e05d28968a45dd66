"""Queries per uncached page (issue 17): the counts measured on the bench pages, as ceilings.

After one warm-up request (per-process tables, per data version). bench/README.md, "Issue
17", says what each query is."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import (
    CategoryFactory,
    FeedbackFactory,
    FigureFactory,
    MitigationFactory,
)


@pytest.fixture
def page(db, reviewer):
    category = CategoryFactory(code="3.1")
    page = MitigationFactory(code="QC1", category=category)
    for i in range(4):
        other = MitigationFactory(code=f"QC{i + 2}", category=category)
        page.related.add(other)
        FigureFactory(mitigation=other, key=f"o{i}", preliminary=True)
    FigureFactory(mitigation=page, key="public")
    FigureFactory(mitigation=page, key="prelim", preliminary=True)
    FeedbackFactory(mitigation=page, user=reviewer, by_reviewer=True, status="approved")
    return page


# path -> (reader, reviewer): the most queries a rendering may cost
PAGES = {
    # page, links, figures, related (+ user, thread, replies, audit); the history's reader
    # feedback only for a page with a later version that could have answered some
    "detail": (4, 8),
    "/mitigations/": (1, 2),  # the page with its count (+ user); markers from the table
    "/mitigations/?category=3.1&sort=-updated": (1, 2),
    "/": (0, 1),
}


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("role", ["reader", "reviewer"])
def test_queries_per_uncached_page(request, settings, page, path, role):
    settings.PAGE_CACHE_SECONDS = 0
    client = request.getfixturevalue(f"{role}_client")
    url = page.get_absolute_url() if path == "detail" else path
    assert client.get(url).status_code == 200  # warm-up
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    ceiling = PAGES[path][role == "reviewer"]
    assert len(queries) <= ceiling, "\n".join(q["sql"][:200] for q in queries)
