"""Redis down: the shared cache is a backing service like the database, so an outage is a
503 ("try again"), never a 500. A gunicorn instance in production mode whose REDIS_URL
points at a port nobody listens on.
"""

import pytest

from tests.reliability.servers import Browser, feedback_form


@pytest.fixture
def server(launch, demo_sqlite_url):
    (server,) = launch(
        "cache-down", DATABASE_URL=demo_sqlite_url, REDIS_URL="redis://127.0.0.1:1/0"
    )
    return server


def test_an_unreachable_cache_is_a_503_not_a_500(server):
    visitor = Browser(server.url)
    # Catalogue pages go through the shared page cache; feedback through the rate limiter.
    for path in ("/", "/mitigations/", "/mitigations/?q=model"):
        response = visitor.get(path)
        assert response.status == 503, (path, response.status)
        assert response.headers["Retry-After"] == "5"
        assert "temporarily unavailable" in response.text
    form = feedback_form(visitor.get("/feedback/").text)
    form.set("comment", "Sent while the cache is down.")
    assert visitor.post("/feedback/", form.fields).status == 503
    # Pages that need no cache still work, and the health check reports the database only.
    assert visitor.get("/accounts/signin/").status == 200
    assert visitor.get("/healthz").status == 200
    assert "Internal Server Error" not in server.log()
