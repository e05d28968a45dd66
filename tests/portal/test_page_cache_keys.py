"""The page cache keys on the parameters a page reads; anonymous renderings past the cache
are capped per address (the benchmark's address exempt by setting)."""

import pytest
from django.core.cache import caches
from django.test import Client

from tests.factories import MitigationFactory


@pytest.fixture
def pages(db, settings):
    settings.PAGE_CACHE_SECONDS = 60
    settings.PAGE_CACHE_MISS_LIMIT = 0
    MitigationFactory(code="K1", name="Kappa page", slug="kappa")
    MitigationFactory(code="K2", name="Lambda page", slug="lambda")


@pytest.fixture
def stored(monkeypatch):
    """The page-cache keys written (whatever the cache backend)."""
    keys = set()
    backend = caches["default"]
    real = backend.set

    def recording(key, *args, **kwargs):
        if key.startswith("portal:page:"):
            keys.add(key)
        return real(key, *args, **kwargs)

    monkeypatch.setattr(backend, "set", recording)
    return keys


@pytest.mark.parametrize(
    "url, noise",
    [
        ("/", ["?x=1", "?utm_source=a", "?q=zzz", "?a=1&b=2", "?page=3"]),
        ("/mitigations/kappa/", ["?x=1", "?y=2", "?page=9", "?q=1", "?%FF=1"]),
        ("/mitigations/", ["?x=1", "?utm=2", "?q=kappa&zz=1", "?zz=2&q=kappa", "?q=k&q=kappa"]),
    ],
)
def test_unknown_parameters_add_no_entries(pages, stored, url, noise):
    client = Client()
    assert client.get(url).status_code == 200
    assert len(stored) == 1
    for query in noise:
        assert client.get(url + query).status_code == 200
    # "/mitigations/?q=kappa" in any spelling is one more entry; the rest add none.
    assert len(stored) == (2 if url == "/mitigations/" else 1)


def test_unknown_parameters_do_not_reach_the_page(pages):
    """A parameter left out of the key must not show in the rendering either (else one
    visitor's query would be served to the next)."""
    client = Client()
    first = client.get("/mitigations/?q=kappa&evil=%3Cmarker-xyz%3E").text
    assert "marker-xyz" not in first
    assert "Kappa page" in first and "Lambda page" not in first
    second = client.get("/mitigations/?q=kappa").text
    assert second == first  # the same rendering


def test_filters_and_pages_still_vary(pages):
    client = Client()
    kappa = client.get("/mitigations/?q=kappa").text
    lamb = client.get("/mitigations/?q=lambda").text
    assert "Kappa page" in kappa and "Lambda page" not in kappa
    assert "Lambda page" in lamb and "Kappa page" not in lamb


def test_anonymous_misses_are_capped_per_address(pages, settings):
    settings.PAGE_CACHE_MISS_LIMIT = 5
    client = Client(REMOTE_ADDR="203.0.113.9")
    statuses = [client.get(f"/mitigations/?q=word{n}").status_code for n in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    limited = client.get("/mitigations/?q=word99")
    assert int(limited["Retry-After"]) >= 1
    # Hits are not counted: a cached page is still served to that address.
    assert client.get("/mitigations/?q=word1").status_code == 200
    # Another address has its own count.
    assert Client(REMOTE_ADDR="203.0.113.10").get("/mitigations/?q=word8").status_code == 200


def test_ipv6_clients_are_capped_by_their_64(pages, settings):
    settings.PAGE_CACHE_MISS_LIMIT = 3
    statuses = [
        Client(REMOTE_ADDR=f"2001:db8:1:2::{n:x}").get(f"/mitigations/?q=v6{n}").status_code
        for n in range(1, 6)
    ]
    assert statuses == [200] * 3 + [429] * 2
    other = Client(REMOTE_ADDR="2001:db8:1:3::1").get("/mitigations/?q=v6x")
    assert other.status_code == 200


def test_the_exempt_address_and_signed_in_users_have_no_cap(pages, settings, reviewer_client):
    settings.PAGE_CACHE_MISS_LIMIT = 2
    settings.PAGE_CACHE_MISS_EXEMPT = ["198.51.100.7"]
    bench = Client(REMOTE_ADDR="198.51.100.7")
    assert {bench.get(f"/mitigations/?q=b{n}").status_code for n in range(6)} == {200}
    assert {reviewer_client.get(f"/mitigations/?q=r{n}").status_code for n in range(6)} == {200}
