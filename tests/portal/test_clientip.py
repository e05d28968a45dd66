"""The client behind our proxies, and the key limits count it by (portal/lib/clientip.py):
`ip:port` and `[v6]:port` hops, IPv6 by /64, and an unparsable hop as a client of its own,
never the proxy."""

import logging

import pytest
from django.test import RequestFactory

from portal.lib import clientip


@pytest.mark.parametrize(
    ("hop", "address", "key"),
    [
        ("203.0.113.7", "203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:51234", "203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2::9", "2001:db8:1:2::9", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("[2001:db8:1:3::1]", "2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:198.51.100.4", "198.51.100.4", "198.51.100.4"),
        ("fe80::1%eth0", "fe80::1", "fe80::/64"),
    ],
)
def test_forwarded_hops_with_ports_and_brackets(settings, hop, address, key):
    settings.TRUSTED_PROXY_COUNT = 1
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"6.6.6.6, {hop}"
    )
    assert clientip.client_ip(request) == address
    assert clientip.client_key(request) == key


@pytest.mark.parametrize(
    "hop", ["garbage", "unknown", "_hidden", "203.0.113.7:99999", "[2001:db8::1", "1.2.3"]
)
def test_an_unparsable_hop_is_its_own_client_never_the_proxy(settings, hop, caplog, monkeypatch):
    settings.TRUSTED_PROXY_COUNT = 1
    monkeypatch.setattr(clientip, "_warned", {})
    factory = RequestFactory()
    with caplog.at_level(logging.WARNING, logger="portal.lib.clientip"):
        request = factory.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"1.1.1.1, {hop}")
        key = clientip.client_key(request)
    assert key.startswith("unknown-")
    assert "10.0.0.1" not in (key, clientip.client_ip(request))
    assert any("unparsable client address" in r.getMessage() for r in caplog.records)
    # The same value is the same client; another value, or a real address, another one.
    again = factory.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"2.2.2.2, {hop}")
    assert clientip.client_key(again) == key
    other = factory.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="x-other-value")
    assert clientip.client_key(other) not in (key, "10.0.0.1")
    # Axes stores addresses only: the unknown client is one address of its own.
    address = clientip.client_key_address(request)
    assert address.startswith("100::") and address != clientip.client_key_address(other)


def test_ipv6_clients_of_one_64_share_one_key():
    factory = RequestFactory()
    keys = {
        clientip.client_key(factory.get("/", REMOTE_ADDR=f"2001:db8:5:6:{n:x}::{n:x}"))
        for n in range(1, 20)
    }
    assert keys == {"2001:db8:5:6::/64"}
    outside = clientip.client_key(factory.get("/", REMOTE_ADDR="2001:db8:5:7::1"))
    assert outside == "2001:db8:5:7::/64"


def test_an_unparsable_value_is_logged_once_a_minute(settings, caplog, monkeypatch):
    settings.TRUSTED_PROXY_COUNT = 1
    monkeypatch.setattr(clientip, "_warned", {})
    with caplog.at_level(logging.WARNING, logger="portal.lib.clientip"):
        for _ in range(50):
            clientip.client_key(RequestFactory().get("/", HTTP_X_FORWARDED_FOR="broken-proxy"))
        clientip.client_key(RequestFactory().get("/", HTTP_X_FORWARDED_FOR="other-value"))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "'broken-proxy'" in lines[0] and "'other-value'" in lines[1]
