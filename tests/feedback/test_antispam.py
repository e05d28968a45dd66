"""Every spam and abuse defence refuses what it should, and lets a legitimate form through."""

import time
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from feedback import antispam, services
from feedback.models import Feedback
from tests.conftest import verify_session
from tests.feedback.conftest import fill

pytestmark = pytest.mark.django_db


@pytest.fixture
def url(mitigation):
    return reverse("feedback:page", args=[mitigation.code])


def test_legitimate_submission_passes(reader_client, url):
    response = reader_client.post(url, fill(reader_client, url))
    assert response.status_code == 302
    assert Feedback.objects.count() == 1


# --- honeypot ------------------------------------------------------------------------------


def test_honeypot_is_hidden_and_labelled(settings, reader_client, url):
    html = reader_client.get(url).text
    start = html.index('class="honeypot"')
    box = html[html.rindex("<div", 0, start) : html.index("</div> </div>", start)]
    assert 'aria-hidden="true"' in box
    assert 'tabindex="-1"' in box and 'autocomplete="off"' in box
    assert "Leave this field empty" in box
    css = (settings.BASE_DIR / "static" / "css" / "portal.css").read_text()
    assert ".honeypot" in css


def test_filled_honeypot_is_silently_discarded(reader_client, url):
    data = fill(reader_client, url, website="http://spam.example")
    response = reader_client.post(url, data)
    assert response.status_code == 302
    assert response["Location"] == reverse("feedback:thanks_generic")
    thanks = reader_client.get(response["Location"])
    assert thanks.status_code == 200 and "Thank you" in thanks.text
    assert "/feedback/t/" not in thanks.text
    assert not Feedback.objects.exists()


# --- the signed stamp ----------------------------------------------------------------------


def test_too_fast_is_refused_with_a_new_stamp(settings, reader_client, url):
    settings.FEEDBACK_MIN_SECONDS = 3
    data = fill(reader_client, url)
    response = reader_client.post(url, data)
    assert response.status_code == 200
    assert "very quick" in response.text
    assert data["stamp"] not in response.text  # a fresh stamp to send again with
    assert not Feedback.objects.exists()

    data["stamp"] = antispam.new_stamp(now=time.time() - 5)
    assert reader_client.post(url, data).status_code == 302


def test_too_old_is_refused(settings, reader_client, url):
    data = fill(reader_client, url)
    data["stamp"] = antispam.new_stamp(now=time.time() - 2 * 3600 - 5)
    assert "expired" in reader_client.post(url, data).text
    settings.FEEDBACK_MAX_AGE = 10
    data["stamp"] = antispam.new_stamp(now=time.time() - 20)
    assert "expired" in reader_client.post(url, data).text
    assert not Feedback.objects.exists()


@pytest.mark.parametrize(
    "stamp",
    [
        "",
        "not-a-stamp",
        "wrong-salt",
        "no-nonce",
        "bad-nonce",
    ],
)
def test_missing_or_tampered_stamp_is_refused(reader_client, url, stamp):
    # Signed stamps are built here, not at collection, so test ids stay stable under xdist.
    signed = {
        "wrong-salt": ({"t": 1, "n": "a" * 32}, "another.salt"),
        "no-nonce": ({"t": int(time.time()) - 60}, antispam.STAMP_SALT),
        "bad-nonce": ({"t": int(time.time()) - 60, "n": "<x>"}, antispam.STAMP_SALT),
    }
    if stamp in signed:
        payload, salt = signed[stamp]
        stamp = signing.dumps(payload, salt=salt)
    data = fill(reader_client, url)
    data["stamp"] = stamp
    response = reader_client.post(url, data)
    assert response.status_code == 200
    assert "Reload the page" in response.text
    assert not Feedback.objects.exists()


def test_stamp_with_edited_time_is_refused(reader_client, url):
    data = fill(reader_client, url)
    payload, rest = data["stamp"].split(":", 1)
    forged = signing.b64_encode(b'{"t":1,"n":"abcdefghijklmnopqrstuvwx"}').decode()
    data["stamp"] = f"{forged}:{rest}"
    assert "could not be verified" in reader_client.post(url, data).text
    assert not Feedback.objects.exists()


# --- duplicates ----------------------------------------------------------------------------


def test_double_submission_is_stored_once(reader_client, url):
    data = fill(reader_client, url)
    first = reader_client.post(url, data)
    second = reader_client.post(url, data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    item = Feedback.objects.get()
    assert item.submission_id == antispam.check_stamp(data["stamp"])


def test_replayed_nonce_from_someone_else_reveals_nothing(url, mitigation):
    one, two = Client(REMOTE_ADDR="192.0.2.1"), Client(REMOTE_ADDR="192.0.2.2")
    data = fill(one, url)
    first = one.post(url, data)
    replay = two.post(url, data)
    assert replay.status_code == 200
    assert "already been sent" in replay.text
    assert first["Location"] not in replay.text
    assert Feedback.objects.get().token not in replay.text
    assert Feedback.objects.count() == 1


def test_race_on_the_same_nonce_is_caught_by_the_unique_constraint(monkeypatch, mitigation):
    """Another request stores the same form between this one's checks and its INSERT: the
    unique index refuses the second row, and the first one is the answer."""
    real_create = services._create
    stored = []

    def other_request_first(item, site_url):
        if not stored:
            twin = Feedback(
                mitigation=mitigation, comment="once", ip_hash="a" * 64, submission_id="n" * 32
            )
            real_create(twin, site_url)
            stored.append(twin)
        real_create(item, site_url)

    monkeypatch.setattr(services, "_create", other_request_first)
    again, created = services.submit(
        user=None, submission_id="n" * 32, comment="once", ip_hash="a" * 64, mitigation=mitigation
    )
    assert not created and again.pk == stored[0].pk
    assert Feedback.objects.count() == 1
    assert Feedback.history.count() == 1  # the refused row left no history record either


def test_new_feedback_is_stored_without_looking_for_a_duplicate_first(mitigation):
    """The unique index answers duplicates: a new form costs no SELECT on feedback."""
    with CaptureQueriesContext(connection) as queries:
        _, created = services.submit(
            user=None,
            submission_id="m" * 32,
            comment="new",
            ip_hash="a" * 64,
            mitigation=mitigation,
        )
    assert created
    lookups = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert not [sql for sql in lookups if '"feedback_feedback"' in sql]


def test_a_duplicate_inside_a_transaction_leaves_it_usable(mitigation):
    with transaction.atomic():
        first, _ = services.submit(
            user=None, submission_id="d" * 32, comment="x", ip_hash="a" * 64, mitigation=mitigation
        )
        again, created = services.submit(
            user=None, submission_id="d" * 32, comment="x", ip_hash="a" * 64, mitigation=mitigation
        )
        assert (again.pk, created) == (first.pk, False)
        with pytest.raises(services.DuplicateSubmission):
            services.submit(
                user=None, submission_id="d" * 32, comment="x", ip_hash="b" * 64, mitigation=None
            )
        assert Feedback.objects.count() == 1  # the transaction still answers


# --- rate limits ---------------------------------------------------------------------------


@pytest.fixture
def frozen_clock(monkeypatch):
    """Fixed windows: keep the whole test inside one of them (mid-window), so it never flakes."""
    monkeypatch.setattr(antispam, "time", SimpleNamespace(time=lambda: 1_000_000_000.0))


def test_rate_limit_per_ip_is_shared_between_sessions(settings, url, frozen_clock):
    settings.FEEDBACK_RATE_LIMITS = {"ip": [(2, 60)], "user": [(10, 60)]}
    one, two = Client(REMOTE_ADDR="198.51.100.1"), Client(REMOTE_ADDR="198.51.100.1")
    assert one.post(url, fill(one, url)).status_code == 302
    assert two.post(url, fill(two, url)).status_code == 302
    limited = one.post(url, fill(one, url, comment="third"))
    assert limited.status_code == 429
    assert limited["Retry-After"] == "21"  # the window ends at 1_000_000_020
    assert "Too many requests" in limited.text
    assert Feedback.objects.count() == 2
    other = Client(REMOTE_ADDR="198.51.100.2")
    assert other.post(url, fill(other, url)).status_code == 302


def test_rate_limit_counts_ipv6_by_64_and_ipv4_by_address(settings, url, frozen_clock):
    """Rotating addresses inside one IPv6 /64 is one client; the next /64, or the next IPv4
    address, is another."""
    settings.FEEDBACK_RATE_LIMITS = {"ip": [(3, 60)], "user": [(10, 60)]}
    codes = []
    for n in range(5):
        rotating = Client(REMOTE_ADDR=f"2001:db8:aa:bb:{n:x}::{n + 1:x}")
        codes.append(rotating.post(url, fill(rotating, url, comment=f"post {n}")).status_code)
    assert codes == [302, 302, 302, 429, 429]
    neighbour = Client(REMOTE_ADDR="2001:db8:aa:bc::1")
    assert neighbour.post(url, fill(neighbour, url)).status_code == 302
    for n in range(4):
        single = Client(REMOTE_ADDR=f"192.0.2.{n + 10}")
        assert single.post(url, fill(single, url, comment=f"v4 {n}")).status_code == 302
    assert Feedback.objects.count() == 8


def test_rate_limit_per_account(settings, reviewer, url, frozen_clock):
    settings.FEEDBACK_RATE_LIMITS = {"ip": [(1, 60)], "user": [(3, 60)]}
    laptop, phone = Client(REMOTE_ADDR="203.0.113.1"), Client(REMOTE_ADDR="203.0.113.2")
    laptop.force_login(reviewer)
    phone.force_login(reviewer)
    verify_session(laptop, reviewer)
    verify_session(phone, reviewer)
    codes = [c.post(url, fill(c, url)).status_code for c in (laptop, phone, laptop, phone)]
    assert codes == [302, 302, 302, 429]
    assert Feedback.objects.count() == 3


def test_rate_limit_windows_expire(settings, rf):
    settings.FEEDBACK_RATE_LIMITS = {"ip": [(1, 60)]}
    request = rf.post("/")
    request.user = AnonymousUser()
    start = 1_000_000_000.0  # the 60 s window runs from 999_999_960 to 1_000_000_020
    assert antispam.rate_limit(request, now=start) is None
    limited = antispam.rate_limit(request, now=start + 1)
    assert limited is not None and limited.retry_after == 20
    assert antispam.rate_limit(request, now=start + 20) is None


# --- content limits and bad input ----------------------------------------------------------


def test_too_many_links(reader_client, url):
    links = " ".join(f"https://example.org/{i}" for i in range(4))
    response = reader_client.post(url, fill(reader_client, url, comment=links))
    assert "at most 3 links" in response.text
    three = " ".join(f"https://example.org/{i}" for i in range(3))
    assert reader_client.post(url, fill(reader_client, url, comment=three)).status_code == 302


def test_comment_length_limit(reader_client, url):
    response = reader_client.post(url, fill(reader_client, url, comment="x" * 5001))
    assert response.status_code == 200 and "at most 5000 characters" in response.text
    assert reader_client.post(url, fill(reader_client, url, comment="x" * 5000)).status_code == 302


@pytest.mark.parametrize("field", ["comment", "name"])
def test_nul_bytes_are_refused(reader_client, url, field):
    data = fill(reader_client, url, **{field: "abc\x00def"})
    response = reader_client.post(url, data)
    assert response.status_code == 200
    assert "Null characters are not allowed" in response.text
    assert not Feedback.objects.exists()


@pytest.mark.parametrize("bad", [b"caf\xe9", b"%FF%FE", b"ok%C3"])
def test_invalid_utf8_body_is_a_400(reader_client, url, bad):
    data = fill(reader_client, url)
    data.pop("comment")
    body = urlencode(data).encode() + b"&comment=" + bad
    response = reader_client.generic(
        "POST", url, body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert not Feedback.objects.exists()


def test_replacement_characters_are_refused(reader_client, url):
    response = reader_client.post(url, fill(reader_client, url, comment="broken \ufffd text"))
    assert "could not be read" in response.text
    assert not Feedback.objects.exists()


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart"])
def test_two_megabyte_body_is_refused(reader_client, url, content_type):
    data = fill(reader_client, url, comment="y" * (2 * 1024 * 1024))
    if content_type == "multipart":
        response = reader_client.post(url, data)
    else:
        response = reader_client.generic(
            "POST", url, urlencode(data).encode(), content_type=content_type
        )
    assert response.status_code in (400, 413)
    assert not Feedback.objects.exists()


@pytest.mark.parametrize(
    "changes",
    [
        {"section": "nonsense"},
        {"kind": "nonsense"},
        {"section": ""},
        {"kind": "'; DROP TABLE feedback_feedback; --"},
        {"comment": ""},
    ],
)
def test_unknown_or_missing_values_are_form_errors(reader_client, url, changes):
    response = reader_client.post(url, fill(reader_client, url, **changes))
    assert response.status_code == 200
    assert "is-invalid" in response.text
    assert not Feedback.objects.exists()


def test_empty_post_is_a_form_error(reader_client, url):
    for target in (url, reverse("feedback:general")):
        response = reader_client.post(target, {})
        assert response.status_code == 200
        assert "This field is required" in response.text
    assert not Feedback.objects.exists()


def test_other_methods_are_refused(reader_client, url):
    assert reader_client.put(url, "x").status_code == 405
    assert reader_client.delete(reverse("feedback:general")).status_code == 405


@hsettings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fields=st.dictionaries(
        st.sampled_from(
            [
                "section",
                "kind",
                "comment",
                "name",
                "email",
                "contact_consent",
                "proposed_category",
                "stamp",
                "page",
                "website",
            ]
        ),
        st.text(max_size=300),
        max_size=10,
    )
)
def test_arbitrary_form_input_never_fails(settings, reader_client, url, fields):
    settings.FEEDBACK_RATE_LIMITS = {}
    base = fill(reader_client, url)
    response = reader_client.post(url, {**base, **fields})
    assert response.status_code in (200, 302, 400)
    for item in Feedback.objects.all():
        assert item.comment.strip() and "\x00" not in item.comment
        assert item.section in Feedback.Section.values and item.kind in Feedback.Kind.values
