"""Sign-in limits beyond axes' (username, client) pair, password-reset limits, and the client
key they count by (portal/lib/clientip.py, portal/accounts/limits.py).

Every test here fails without the limits: before them one address could try any number of
usernames, an account could be guessed from any number of addresses (and IPv6 addresses of
one /64 were each a fresh client), and password-reset mail was unlimited."""

import logging
import time

import pytest
from django.core import mail
from django.test import Client, RequestFactory

from portal.accounts import limits
from tests.conftest import PASSWORD
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SIGNIN = "/accounts/signin/"


def attempt(address, username, password="wrong", path=SIGNIN, **extra):  # noqa: S107
    client = Client(REMOTE_ADDR=address, **extra)
    return client.post(path, {"username": username, "password": password})


def reason(response):
    """The limit a 429 page names (data-signin-limit), or None for any other answer."""
    if response.status_code != 429:
        return None
    text = response.content.decode()
    return text.split('data-signin-limit="', 1)[1].split('"', 1)[0]


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.SIGNIN_ADDRESS_LIMIT = 20
    settings.SIGNIN_ADDRESS_WINDOW = 900
    settings.SIGNIN_ADDRESS_LOCKOUT = 900
    settings.SIGNIN_ACCOUNT_LIMIT = 10
    settings.SIGNIN_ACCOUNT_WINDOW = 86400
    settings.SIGNIN_ACCOUNT_DELAY = 60
    settings.SIGNIN_ACCOUNT_MAX_DELAY = 900
    settings.EDITORS_EMAIL = []


@pytest.fixture
def clock(monkeypatch):
    """time.time() that the test moves on (the limits' waits are end times)."""
    real = time.time
    offset = [0.0]
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])

    def advance(seconds):
        offset[0] += seconds

    return advance


# --- (username, client) pair: axes, keyed by the /64 -------------------------------------------


def test_ipv6_rotation_inside_one_64_does_not_escape_the_pair_lockout(reviewer):
    answers = [
        attempt(f"2001:db8:77:1:{n:x}::1", reviewer.username).status_code for n in range(1, 8)
    ]
    assert answers[:4] == [200] * 4 and answers[4:] == [429] * 3
    right = attempt("2001:db8:77:1:abcd::1", reviewer.username, PASSWORD)
    assert reason(right) == "pair"
    # Outside the /64 (and the other limits far away) the owner signs in.
    assert attempt("2001:db8:77:2::1", reviewer.username, PASSWORD).status_code == 302


# --- Per client, across usernames (spraying) ----------------------------------------------------


def test_spraying_from_one_address_locks_that_address_out(reviewer, caplog):
    with caplog.at_level(logging.WARNING, logger="portal.accounts.limits"):
        for n in range(20):
            assert attempt("198.51.100.20", f"someone-{n}").status_code == 200
    locked = attempt("198.51.100.20", reviewer.username, PASSWORD)
    assert reason(locked) == "address"
    assert int(locked["Retry-After"]) in range(850, 901)
    assert any("locked out" in r.getMessage() for r in caplog.records)
    # The admin's sign-in is the same authentication: refused too.
    admin = attempt("198.51.100.20", reviewer.username, PASSWORD, path="/admin/login/")
    assert reason(admin) == "address"
    # Another address is not affected.
    assert attempt("198.51.100.21", reviewer.username, PASSWORD).status_code == 302


def test_spraying_from_one_ipv6_64_is_one_client(reviewer):
    for n in range(20):
        attempt(f"2001:db8:99:1::{n + 1:x}", f"user-{n}")
    assert reason(attempt("2001:db8:99:1:ffff::5", reviewer.username, PASSWORD)) == "address"
    assert attempt("2001:db8:99:2::5", reviewer.username, PASSWORD).status_code == 302


def test_a_success_does_not_clear_the_address_count(reviewer):
    """A sprayer signing in to an account of their own keeps their count."""
    own = UserFactory(username="sprayer-own")
    for n in range(10):
        attempt("198.51.100.30", f"victim-{n}")
    assert attempt("198.51.100.30", own.username, PASSWORD).status_code == 302
    for n in range(10, 20):
        attempt("198.51.100.30", f"victim-{n}")
    assert reason(attempt("198.51.100.30", "victim-x")) == "address"


def test_the_address_lockout_ends(reviewer, clock):
    for n in range(20):
        attempt("198.51.100.40", f"someone-{n}")
    assert reason(attempt("198.51.100.40", reviewer.username, PASSWORD)) == "address"
    clock(901)
    assert attempt("198.51.100.40", reviewer.username, PASSWORD).status_code == 302


# --- Per account, across clients (distributed guessing) ------------------------------------------


def _distributed(username, failures, start=1):
    """`failures` wrong passwords for `username`, each from a new address."""
    for n in range(start, start + failures):
        assert attempt(f"203.0.113.{n}", username).status_code == 200


def test_distributed_guessing_throttles_the_account_without_locking_it(
    reviewer, editor, clock, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _distributed(reviewer.username, 10)
        throttled = attempt("198.51.100.99", reviewer.username, PASSWORD)
    assert reason(throttled) == "account"
    assert int(throttled["Retry-After"]) in range(55, 61)
    # Refused attempts are not checked and not counted: hammering does not make it longer.
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(30):
            assert reason(attempt(f"192.0.2.{n + 1}", reviewer.username)) == "account"
    clock(61)
    # Not a lockout: once the wait is over, the owner signs in.
    assert attempt("198.51.100.99", reviewer.username, PASSWORD).status_code == 302
    # The owner and the editors were mailed, once each, for the whole episode.
    recipients = sorted(address for message in mail.outbox for address in message.to)
    assert recipients == sorted([reviewer.email, editor.email])
    assert reviewer.username in mail.outbox[0].body


def test_each_further_failure_doubles_the_wait(reviewer, clock, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _distributed(reviewer.username, 10)
        waits = []
        for n in range(5):
            clock(int(waits[-1]) + 1 if waits else 61)
            assert attempt(f"198.51.100.{n + 100}", reviewer.username).status_code == 200
            waits.append(attempt("192.0.2.200", reviewer.username, PASSWORD)["Retry-After"])
    assert [int(w) for w in waits] == [120, 240, 480, 900, 900]
    assert len(mail.outbox) == 1  # still one episode: the owner only (no editors here)


def test_unknown_usernames_are_throttled_alike_and_mail_nobody(
    reviewer, editor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _distributed("no-such-account", 10)
        unknown = attempt("198.51.100.99", "no-such-account")
    assert reason(unknown) == "account"
    assert mail.outbox == []
    # Case variants are the same account for the count (no way around it).
    assert reason(attempt("198.51.100.98", "No-Such-Account")) == "account"


def test_a_success_ends_the_current_wait_but_not_the_episode(reviewer, clock):
    _distributed(reviewer.username, 10)
    clock(61)
    assert attempt("198.51.100.99", reviewer.username, PASSWORD).status_code == 302
    assert attempt("198.51.100.99", reviewer.username, "wrong").status_code == 200
    assert int(attempt("192.0.2.1", reviewer.username, PASSWORD)["Retry-After"]) > 60


# --- Bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "username",
    ["", " ", "a" * 5000, "x\x00y", "\u202eevil\r\nline", "ünïcødé-名前", "[2001:db8::1]:80"],
)
def test_odd_usernames_are_counted_never_a_500(username, settings):
    settings.SIGNIN_ADDRESS_LIMIT = 3
    answers = [attempt("198.51.100.50", username).status_code for _ in range(4)]
    assert 500 not in answers
    assert answers[-1] == 429 or set(answers) == {200}  # refused by the form or by a limit


@pytest.mark.parametrize(
    "forwarded", ["garbage", "1.2.3.4:x", "[::1", "a" * 3000, "1.2.3.4,,,", ",", "\u00e9"]
)
def test_odd_forwarded_headers_never_a_500(settings, reviewer, forwarded):
    settings.TRUSTED_PROXY_COUNT = 1
    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    response = client.post(SIGNIN, {"username": reviewer.username, "password": PASSWORD})
    assert response.status_code == 302


def test_an_unparsable_hop_locks_out_itself_not_everyone_behind_the_proxy(settings, reviewer):
    """The old fallback made every such request the proxy (127.0.0.1): one attacker then
    locked every client of the proxy out."""
    settings.TRUSTED_PROXY_COUNT = 1
    settings.SIGNIN_ADDRESS_LIMIT = 5
    for n in range(6):
        attempt("127.0.0.1", f"user-{n}", HTTP_X_FORWARDED_FOR="spoofed, not-an-address")
    assert reason(attempt("127.0.0.1", "x", HTTP_X_FORWARDED_FOR="not-an-address")) == "address"
    ok = attempt("127.0.0.1", reviewer.username, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert ok.status_code == 302
    direct = attempt("127.0.0.1", reviewer.username, PASSWORD)  # no header: the peer itself
    assert direct.status_code == 302


# --- The module's interface (for the second factor) ---------------------------------------------


def test_kinds_count_apart(settings):
    settings.SIGNIN_ADDRESS_LIMIT = 2
    request = RequestFactory().post("/", REMOTE_ADDR="192.0.2.9")
    limits.failed(request, "someone", kind="code")
    limits.failed(request, "someone", kind="code")
    assert limits.check(request, "someone", kind="code").reason == "address"
    assert limits.check(request, "someone") is None  # passwords: nothing counted yet


# --- Password reset -------------------------------------------------------------------------------

RESET = "/accounts/password/reset/"


def reset(address, email):
    return Client(REMOTE_ADDR=address).post(RESET, {"email": email})


def test_password_reset_is_limited_per_address_with_the_same_answer(reviewer, caplog):
    answers = []
    with caplog.at_level(logging.WARNING, logger="portal.accounts.limits"):
        for n in range(7):
            target = reviewer.email if n % 2 == 0 else f"nobody{n}@example.org"
            answers.append(reset("198.51.100.60", target))
    assert {(r.status_code, r["Location"]) for r in answers} == {
        (302, "/accounts/password/reset/sent/")
    }
    # Requests 1, 3 and 5 were for the real account; 6 and 7 were over the address limit.
    assert len(mail.outbox) == 3
    assert any("password reset over limit" in r.getMessage() for r in caplog.records)


def test_password_reset_is_limited_per_account_across_addresses(reviewer):
    answers = [reset(f"203.0.113.{n}", reviewer.email) for n in range(1, 6)]
    assert {(r.status_code, r["Location"]) for r in answers} == {
        (302, "/accounts/password/reset/sent/")
    }
    assert len(mail.outbox) == 3
    other = UserFactory(username="other-person")
    assert reset("203.0.113.9", other.email).status_code == 302
    assert len(mail.outbox) == 4  # another account is not affected


def test_password_reset_of_an_ipv6_64_is_one_client(reviewer):
    for n in range(8):
        reset(f"2001:db8:42:1::{n + 1:x}", f"nobody{n}@example.org")
    reset("2001:db8:42:1::ff", reviewer.email)
    assert mail.outbox == []


@pytest.mark.parametrize("email", ["", "not-an-email", "a" * 500 + "@example.org", "x\x00@y.z"])
def test_password_reset_bad_input_never_a_500(email):
    response = reset("198.51.100.70", email)
    assert response.status_code in (200, 302)
