"""Sign-in, feedback and password-reset limits on real app servers behind a trusted proxy.

gunicorn in production mode with TRUSTED_PROXY_COUNT=1: every request comes from 127.0.0.1
(the "proxy") with an X-Forwarded-For whose last entry is the client as the proxy saw it:
IPv4, IPv6 inside and outside one /64, `ip:port` and `[v6]:port` hops (as some proxies write
them), an unparsable hop, and forged entries further left. Two workers share the counts
through Redis. Limits are lowered by the environment so that each scenario is short.
"""

import json
import re

import pytest

from tests.conftest import PASSWORD
from tests.factories import MitigationFactory
from tests.reliability.conftest import needs_postgres, needs_redis
from tests.reliability.servers import Browser, feedback_form

pytestmark = [
    pytest.mark.postgres,
    needs_postgres,
    needs_redis,
    pytest.mark.django_db(transaction=True),
]

LIMITS = {
    "TRUSTED_PROXY_COUNT": "1",
    "AXES_FAILURE_LIMIT": "3",
    "SIGNIN_ADDRESS_LIMIT": "6",
    "SIGNIN_ACCOUNT_LIMIT": "6",
    "SIGNIN_ACCOUNT_DELAY": "60",
    "PASSWORD_RESET_PER_ADDRESS": "2",
    "PASSWORD_RESET_PER_ACCOUNT": "3",
    "LOG_LEVEL": "WARNING",
}


def sign_in(server, hop, username, password="wrong", forged="6.6.6.6"):  # noqa: S107
    """One sign-in by a new visitor whose proxy reported `hop` (after a forged entry)."""
    browser = Browser(server.url, headers={"X-Forwarded-For": f"{forged}, {hop}"})
    browser.get("/accounts/signin/")
    return browser.post("/accounts/signin/", {"username": username, "password": password})


def limit_of(response):
    """Which limit refused (data-signin-limit on the 429 page), None for any other answer."""
    if response.status != 429:
        return None
    found = re.search(r'data-signin-limit="([a-z]+)"', response.text)
    return found.group(1) if found else "?"


def test_spraying_from_one_address_with_changing_ports(launch, make_account):
    (server,) = launch("spray", **LIMITS)
    for n in range(7):
        make_account(f"sprayed-{n}")
    answers = [
        sign_in(server, f"198.51.100.7:{40000 + n}", f"sprayed-{n}").status for n in range(6)
    ]
    assert answers == [200] * 6  # each username failed once: no pair lockout
    locked = sign_in(server, "198.51.100.7:41000", "sprayed-6", PASSWORD, forged="1.2.3.4")
    assert limit_of(locked) == "address"
    assert int(locked.headers["Retry-After"]) > 0
    # Another client of the same proxy (same REMOTE_ADDR, other hop) is not affected.
    assert sign_in(server, "198.51.100.8:41000", "sprayed-6", PASSWORD).status == 302
    # Nor is the same address written without a port counted apart: it is the same client.
    assert limit_of(sign_in(server, "198.51.100.7", "sprayed-5", PASSWORD)) == "address"


def test_ipv6_inside_one_64_is_one_client_outside_another(launch, make_account):
    (server,) = launch("ipv6", **LIMITS)
    make_account("v6-owner")
    hops = ["[2001:db8:1:1::1]:443", "2001:db8:1:1::2", "[2001:db8:1:1:ffff::3]:8443"]
    assert [sign_in(server, hop, "v6-owner").status for hop in hops] == [200, 200, 429]
    inside = sign_in(server, "[2001:db8:1:1:abcd::9]:1", "v6-owner", PASSWORD)
    assert limit_of(inside) == "pair"
    outside = sign_in(server, "[2001:db8:1:2::1]:443", "v6-owner", PASSWORD)
    assert outside.status == 302
    # Spraying across usernames from rotating addresses of one /64 is one client too.
    for n in range(6):
        make_account(f"v6-sprayed-{n}")
        sign_in(server, f"[2001:db8:9:9:{n + 1:x}::1]:{5000 + n}", f"v6-sprayed-{n}")
    assert limit_of(sign_in(server, "2001:db8:9:9:ab::1", "v6-owner", PASSWORD)) == "address"
    assert sign_in(server, "2001:db8:9:a::1", "v6-owner", PASSWORD).status == 302


def test_distributed_guessing_throttles_and_mails_once(launch, make_account):
    (server,) = launch("distributed", **LIMITS)
    owner = make_account("guessed")
    for n in range(6):
        assert sign_in(server, f"203.0.113.{n + 1}", "guessed").status == 200
    throttled = sign_in(server, "192.0.2.77:5555", "guessed", PASSWORD)
    assert limit_of(throttled) == "account"
    assert 50 <= int(throttled.headers["Retry-After"]) <= 60
    # Hammering while throttled is refused unchecked and does not make the wait longer.
    for n in range(5):
        again = sign_in(server, f"192.0.2.{n + 100}", "guessed")
        assert limit_of(again) == "account" and int(again.headers["Retry-After"]) <= 60
    log = server.log()
    assert log.count("Repeated failed sign-ins to an account") == 1, log[-3000:]
    assert owner.email in log


def test_an_unparsable_hop_never_becomes_the_proxy(launch, make_account):
    (server,) = launch("unparsable", **LIMITS)
    make_account("bystander")
    for n in range(6):
        make_account(f"target-{n}")
        assert sign_in(server, "not-an-address", f"target-{n}").status == 200
    assert limit_of(sign_in(server, "not-an-address", "target-0", PASSWORD)) == "address"
    # Everyone else behind the same proxy still signs in: the attacker is not the proxy.
    assert sign_in(server, "203.0.113.50", "bystander", PASSWORD).status == 302
    assert "unparsable client address in X-Forwarded-For: 'not-an-address'" in server.log()


@pytest.mark.parametrize("forwarded", ["", ",", "a" * 4000, "[::1", "1.2.3.4:0:0", "\t"])
def test_odd_forwarded_headers_are_never_a_500(launch, make_account, forwarded):
    (server,) = launch("odd", **LIMITS)
    make_account("odd-one")
    browser = Browser(server.url, headers={"X-Forwarded-For": forwarded})
    assert browser.get("/accounts/signin/").status == 200
    answer = browser.post("/accounts/signin/", {"username": "odd-one", "password": PASSWORD})
    assert answer.status == 302


def test_feedback_limits_count_an_ipv6_64_as_one_client(launch, roles):
    mitigation = MitigationFactory(code="R200", name="Rotating addresses")
    (server,) = launch(
        "feedback", RELIABILITY_FEEDBACK_RATE_LIMITS=json.dumps({"ip": [[3, 10**9]]}), **LIMITS
    )
    path = f"/feedback/on/{mitigation.code}/"

    def post(hop, n):
        browser = Browser(server.url, headers={"X-Forwarded-For": hop})
        form = feedback_form(browser.get(path).text)
        form.set("section", "definition")
        form.set("kind", "error")
        form.set("comment", f"Feedback {n} from {hop}.")
        return browser.post(path, form.fields).status

    inside = [post(f"2001:db8:5:5:{n:x}::{n:x}", n) for n in range(1, 6)]
    assert inside == [302, 302, 302, 429, 429]
    assert post("[2001:db8:5:6::1]:443", 9) == 302
    assert [post(f"198.51.100.{n}:80", n) for n in range(1, 5)] == [302] * 4


def test_password_reset_is_limited_with_one_answer(launch, make_account):
    (server,) = launch("reset", **LIMITS)
    owner = make_account("forgetful")

    def reset(hop, email):
        browser = Browser(server.url, headers={"X-Forwarded-For": hop})
        browser.get("/accounts/password/reset/")
        response = browser.post("/accounts/password/reset/", {"email": email})
        return response.status, response.location

    same = {("302", "/accounts/password/reset/sent/")}
    answers = {reset("198.51.100.9:1234", owner.email) for _ in range(4)}
    answers |= {reset("198.51.100.9:999", "nobody@example.org")}
    assert {(str(s), loc) for s, loc in answers} == same
    assert server.log().count(f"To: {owner.email}") == 2  # the per-address limit
    other = make_account("forgetful-too")
    answers = {reset(f"203.0.113.{n}:{n}", other.email) for n in range(1, 6)}
    assert {(str(s), loc) for s, loc in answers} == same
    assert server.log().count(f"To: {other.email}") == 3  # the per-account limit
    assert server.log().count(f"To: {owner.email}") == 2
