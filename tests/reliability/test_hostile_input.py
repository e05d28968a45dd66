"""Hostile input: property tests over everything a stranger (or a careless editor) can send.

Arbitrary text mixed with XSS and SQL payloads, NUL, lone surrogates (sent as the bytes a
client would send: UTF-8 with `surrogatepass`, which is not valid UTF-8), bidi controls and
very long strings, into the feedback form, search and the list filters, URL path segments,
the Markdown renderer, oversized bodies, `next=` on sign-in and sign-out, and every
autocomplete field of the admin's change forms. Never a 500;
accepted text is stored exactly and rendered escaped wherever it is shown.
"""

import html.parser
import re
import unicodedata
from urllib.parse import quote, quote_plus, urlsplit

import pytest
from django.contrib import admin
from django.template.defaultfilters import linebreaksbr
from django.test import Client
from django.utils.html import escape
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from feedback import antispam
from feedback.admin.columns import COMMENT_CHARS
from feedback.forms import COMMENT_MAX
from feedback.models import Feedback
from mitigations import importer, rendering
from mitigations.rendering import render_markdown
from portal.lib.admin_safety import SafeAutocompleteMixin
from tests.conftest import PASSWORD
from tests.factories import (
    ActorFactory,
    CategoryFactory,
    FigureFactory,
    LifecycleStageFactory,
    MitigationFactory,
    RmfFunctionFactory,
    SourceFactory,
)
from tests.feedback.conftest import hidden_fields
from tests.reliability.servers import form_by_id

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("role_groups")]

MARKUP = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    '<a href="javascript:alert(1)">click</a>',
    '<iframe src="//evil.example"></iframe>',
    "<svg/onload=alert(1)>",
    "<style>*{display:none}</style>",
    "</textarea><script>alert(2)</script>",
    "'\"><body onload=alert(3)>",
]
OTHER = [
    "javascript:alert(document.cookie)",
    "[x](javascript:alert(1))",
    "'; DROP TABLE feedback_feedback; --",
    "1' OR '1'='1' --",
    "{{ settings.SECRET_KEY }}{% debug %}",
    "\u202eexe.tab\u202c",  # right-to-left override
    "\u200f\u200e\u061c",  # RTL/LTR/Arabic letter marks
    "\ufeff",
    "\r\n\r\n",
    "https://a.example/ www.b.example",
]
NUL, SURROGATE = "\x00", st.characters(categories=["Cs"])
MEGABYTE = 2**20
QUICK = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.large_base_example,
        HealthCheck.data_too_large,
    ],
}


def pieces(*, unsafe: bool):
    """Fragments: payloads, arbitrary text and (if `unsafe`) NUL and lone surrogates."""
    options = [st.sampled_from(MARKUP + OTHER), st.text(max_size=40)]
    if unsafe:
        options += [st.just(NUL), SURROGATE]
    return st.one_of(*options)


def hostile(*, unsafe=True, max_pieces=8, long=(5001, MEGABYTE)):
    """Payload mixes, arbitrary text, and long strings: a payload repeated to each length
    in `long` (past the limits that apply: 5,000 characters, 1 MB bodies, 8 KB URLs)."""
    return st.one_of(
        st.lists(pieces(unsafe=unsafe), max_size=max_pieces).map("".join),
        st.text() if unsafe else st.text(st.characters(exclude_categories=["Cs"], codec="utf-8")),
        st.tuples(st.sampled_from(MARKUP + OTHER), st.sampled_from(long)).map(
            lambda pair: (pair[0] * (pair[1] // len(pair[0]) + 1))[: pair[1]]
        ),
    )


def storable(max_size=300):
    """Text PostgreSQL can store (no NUL, no surrogates): what other channels may hold."""
    return hostile(unsafe=False).map(lambda s: s.replace(NUL, "")[:max_size])


def encode(value: str) -> str:
    """Percent-encode like a client: UTF-8, lone surrogates as their (invalid) bytes."""
    return quote_plus(value.encode("utf-8", "surrogatepass"))


def form_body(fields: dict) -> bytes:
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in fields.items()).encode("ascii")


def assert_no_raw_markup(body: str, *texts: str):
    """No markup payload that was sent comes back unescaped."""
    for payload in MARKUP:
        if any(payload in text for text in texts):
            assert payload not in body, payload


@pytest.fixture
def page(settings):
    settings.FEEDBACK_MIN_SECONDS = 0
    settings.FEEDBACK_RATE_LIMITS = {}
    settings.EDITORS_EMAIL = []
    return MitigationFactory(code="H100", name="Hostile input page")


# --- The feedback form -------------------------------------------------------------------


def accepted(comment: str, name: str, body: bytes, settings) -> bool:
    """Whether the form must accept these values (the rules, restated independently)."""
    if len(body) > min(settings.DATA_UPLOAD_MAX_MEMORY_SIZE, settings.ANONYMOUS_MAX_REQUEST_BODY):
        return False
    if any(
        unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in "\u200c\u200d"
        for c in name.strip()
    ):
        return False  # a name is one line of printable text (ZWJ/ZWNJ aside)
    for text in (comment, name):
        if NUL in text or "\ufffd" in text or re.search("[\ud800-\udfff]", text):
            return False
    comment = comment.strip()
    return (
        0 < len(comment) <= COMMENT_MAX
        and antispam.count_links(comment) <= antispam.max_links()
        and len(name.strip()) <= 120
    )


@hsettings(max_examples=40, **QUICK)
@given(comment=hostile(), name=hostile(max_pieces=3).map(lambda s: s[:200]))
@example(comment=MARKUP[1] + "\n" + MARKUP[0], name=MARKUP[6])
@example(comment="caf\udce9 <script>", name="")
@example(comment="ok" + NUL, name="")
def test_feedback_form_stores_exactly_or_refuses_and_renders_escaped(
    page, client, settings, comment, name
):
    url = f"/feedback/on/{page.code}/"
    fields = {
        **hidden_fields(client.get(url).text),
        "section": "definition",
        "kind": "error",
        "comment": comment,
        "name": name,
    }
    body = form_body(fields)
    before = Feedback.objects.count()
    response = client.generic("POST", url, body, content_type="application/x-www-form-urlencoded")

    if len(body) > settings.ANONYMOUS_MAX_REQUEST_BODY:
        assert response.status_code == 413  # refused before the body is read
        return
    assert response.status_code in (200, 302, 400)
    assert (response.status_code == 302) == accepted(comment, name, body, settings)
    if response.status_code != 302:
        assert Feedback.objects.count() == before
        assert_no_raw_markup(response.text, comment, name)  # the form shown again
        return
    token = response["Location"].rstrip("/").rsplit("/", 1)[1]
    item = Feedback.objects.get(token=token)
    assert item.comment == comment.strip()
    assert item.name == name.strip()
    tracking = client.get(item.get_absolute_url()).text
    assert linebreaksbr(item.comment) in tracking
    assert_no_raw_markup(tracking, comment)


@hsettings(max_examples=20, **QUICK)
@given(comment=storable(), reply=storable(), first_name=storable(max_size=150))
@example(comment=MARKUP[0], reply=MARKUP[1], first_name=MARKUP[4])
def test_stored_hostile_text_is_escaped_in_the_thread_tracking_page_and_admin(
    page, reviewer, reviewer_client, editor_client, client, comment, reply, first_name
):
    reviewer.first_name = first_name
    reviewer.save(update_fields=["first_name"])
    item = Feedback.objects.create(
        mitigation=page,
        comment=comment,
        public_reply=reply,
        user=reviewer,
        by_reviewer=True,
        status=Feedback.Status.APPROVED,
        submission_id=f"hostile-{Feedback.objects.count()}",
    )
    shown = {
        # A reviewer's feedback is restricted: its text is on the tracking page for them.
        "tracking page": reviewer_client.get(item.get_absolute_url()),
        "reviewers' thread": reviewer_client.get(page.get_absolute_url()),
        "admin changelist": editor_client.get("/admin/feedback/feedback/"),
        "admin change form": editor_client.get(f"/admin/feedback/feedback/{item.pk}/change/"),
    }
    for where, response in shown.items():
        assert response.status_code == 200, where
        assert_no_raw_markup(response.text, comment, reply, first_name)
    for where in ("tracking page", "reviewers' thread"):
        assert linebreaksbr(comment) in shown[where].text, where
        assert linebreaksbr(reply) in shown[where].text, where
    submitter = reviewer.get_full_name() or reviewer.get_username()
    assert escape(submitter) in shown["reviewers' thread"].text
    # The queue shows the comment as written (clamped by CSS), up to COMMENT_CHARS.
    text = comment if len(comment) <= COMMENT_CHARS else comment[:COMMENT_CHARS] + "…"
    assert escape(text) in shown["admin changelist"].text
    # Read-only field: the admin strips the value and shows "-" for an empty one.
    assert linebreaksbr(comment.strip() or "-") in shown["admin change form"].text
    assert escape(reply) in shown["admin change form"].text  # the reply's textarea


# --- Search, filters, URL path segments ----------------------------------------------------

LIST_PARAMS = ["q", "category", "lifecycle", "actor", "rmf", "source", "status", "sort", "page"]


def url_value():
    # Servers refuse request lines over 8 KB (gunicorn: 8190 bytes); 1 MB is an @example.
    return st.one_of(hostile(max_pieces=4, long=(10_000,)), st.integers().map(str))


@pytest.fixture
def catalogue(db):
    category = CategoryFactory(code="7.1.1", name="Hostile category")
    source = SourceFactory(key="hostile-source")
    for n in range(3):
        MitigationFactory(code=f"H{200 + n}", category=category).sources.add(source)


@hsettings(max_examples=60, **QUICK)
@given(
    path=st.sampled_from(
        ["/mitigations/", "/mitigations/taxonomy/7/", "/mitigations/sources/hostile-source/"]
    ),
    params=st.lists(st.tuples(st.sampled_from(LIST_PARAMS), url_value()), min_size=1, max_size=4),
    signed_in=st.booleans(),
)
@example(path="/mitigations/", params=[("q", "x" * MEGABYTE)], signed_in=False)
@example(path="/mitigations/", params=[("category", NUL), ("q", "\ud800")], signed_in=True)
def test_search_and_every_list_filter_never_fail(
    catalogue, client, editor_client, path, params, signed_in
):
    query = "&".join(f"{encode(k)}={encode(v)}" for k, v in params)
    response = (editor_client if signed_in else client).get(f"{path}?{query}")
    # A NUL anywhere in a query string is refused up front (RequestLimitsMiddleware).
    assert response.status_code == (400 if "%00" in query else 200)
    assert_no_raw_markup(response.text, *(v for _, v in params))


ROUTES = [
    "/mitigations/taxonomy/{}/",
    "/mitigations/sources/{}/",
    "/mitigations/{}/",
    "/mitigations/export.{}",
    "/feedback/on/{}/",
    "/feedback/t/{}/",
    "/feedback/thanks/{}/",
    "/accounts/password/reset/{}/set-password/",
    "/{}",
]


@hsettings(max_examples=60, **QUICK)
@given(route=st.sampled_from(ROUTES), segment=hostile(max_pieces=4, long=(10_000,)).filter(bool))
@example(route="/mitigations/taxonomy/{}/", segment=NUL)
@example(route="/feedback/on/{}/", segment="H100" + NUL)
def test_hostile_url_path_segments_never_fail(catalogue, client, route, segment):
    response = client.get(route.format(quote(segment.encode("utf-8", "surrogatepass"), safe="")))
    assert response.status_code in (200, 301, 302, 400, 404)
    assert_no_raw_markup(response.text, segment)


# --- The Markdown renderer -----------------------------------------------------------------

MARKDOWN_ATTACKS = [
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x]( javascript:alert(1) )",
    "[x](&#106;avascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "![img](https://evil.example/a.png)",
    '![img](x" onerror="alert(1))',
    "<img src=x onerror=alert(1)>",
    "<a href='javascript:alert(1)' onclick=alert(2) style=color:red>x</a>",
    '<p style="background:url(javascript:alert(1))">x</p>',
    "<scr<script>ipt>alert(1)</script>",
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "| a | b |\n|---|---|\n| <script>x</script> | [y](javascript:z) |",
    "```\n<script>alert(1)</script>\n```",
    "<div onmouseover=alert(1)>hover</div>",
    "<!--><script>alert(1)</script>-->",
]
ALLOWED_SCHEMES = {"http", "https", "mailto"}


class _Markup(html.parser.HTMLParser):
    """The tags and attributes of an HTML fragment (entities decoded, as a browser would)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, [(k, v or "") for k, v in attrs]))

    handle_startendtag = handle_starttag


def _scheme(url: str) -> str:
    """The scheme a browser would see (WHATWG URL: C0 controls and spaces around the URL
    are stripped, tabs and newlines anywhere are removed; a space inside ends a scheme)."""
    cleaned = re.sub(r"[\t\n\r]", "", url).strip("".join(map(chr, range(0x21))))
    found = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):", cleaned)
    return found.group(1).lower() if found else ""


def assert_safe_html(output: str):
    lower = output.lower()
    # Text is escaped, so these can only be tags, and tags are what must not be there.
    for tag in ("<script", "<img", "<iframe", "<style", "<svg", "<math", "<object", "<embed"):
        assert tag not in lower, tag
    parser = _Markup()
    parser.feed(output)
    parser.close()
    # `javascript:`, ` on…=` and `style=` are harmless as words in the text ("set the
    # style= option"); in the markup they must not occur at all.
    markup = " ".join(f"<{tag} " + " ".join(f'{k}="{v}"' for k, v in a) for tag, a in parser.tags)
    assert "javascript:" not in markup.lower()
    assert not re.search(r"\son\w*=", markup, re.IGNORECASE)
    assert "style=" not in markup.lower()
    for tag, attrs in parser.tags:
        assert tag in rendering.ALLOWED_TAGS, tag
        allowed = rendering.ALLOWED_ATTRIBUTES.get(tag, set()) | ({"rel"} if tag == "a" else set())
        for name, value in attrs:
            assert name in allowed, (tag, name)
            if name == "href":
                assert _scheme(value) in ALLOWED_SCHEMES | {""}, value


@hsettings(max_examples=60, **QUICK)
@given(
    text=st.lists(
        st.one_of(st.sampled_from(MARKDOWN_ATTACKS + MARKUP + OTHER), st.text(max_size=40)),
        max_size=10,
    ).map("\n".join)
)
def test_markdown_output_has_no_scripts_handlers_styles_images_or_javascript_links(text):
    assert_safe_html(render_markdown(text))


def test_markdown_of_the_largest_cell_an_import_accepts_is_safe():
    text = "\n\n".join(MARKDOWN_ATTACKS + MARKUP + OTHER) * 100
    text = text[: importer.MAX_CELL_CHARS]
    assert len(text) == importer.MAX_CELL_CHARS
    assert_safe_html(render_markdown(text))


# --- Oversized bodies ----------------------------------------------------------------------

SMALL_LIMIT, BODY_LIMIT = 16 * 1024, 64 * 1024  # DATA_UPLOAD_MAX_MEMORY_SIZE, MAX_REQUEST_BODY
# (path, who posts, whether the view reads the form data)
POST_ENDPOINTS = [
    ("/feedback/", None, True),
    ("/feedback/on/H100/", None, True),
    ("/accounts/signin/", None, True),
    ("/admin/login/", None, True),
    ("/admin/mitigations/mitigation/import/", "editor", True),
    ("/mitigations/", None, False),  # a page that ignores a body
]


def _body(kind: str, size: int) -> tuple[bytes, str]:
    if kind == "urlencoded":
        return b"comment=" + b"x" * size, "application/x-www-form-urlencoded"
    if kind in ("multipart field", "multipart file"):
        boundary = "hostileboundary"
        filename = '; filename="data.csv"' if kind == "multipart file" else ""
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="comment"{filename}\r\n\r\n'
            ).encode()
            + b"x" * size
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return body, f"multipart/form-data; boundary={boundary}"
    return b"x" * size, "text/plain"


@hsettings(max_examples=40, **QUICK)
@given(
    endpoint=st.sampled_from(POST_ENDPOINTS),
    kind=st.sampled_from(["urlencoded", "multipart field", "multipart file", "text/plain"]),
    size=st.sampled_from(
        [SMALL_LIMIT // 2, SMALL_LIMIT + 1000, BODY_LIMIT - 1000, BODY_LIMIT + 1, 4 * BODY_LIMIT]
    ),
)
def test_oversized_bodies_are_413_or_400_never_500(
    page, settings, editor_client, client, endpoint, kind, size
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE, settings.MAX_REQUEST_BODY = SMALL_LIMIT, BODY_LIMIT
    path, who, reads_form = endpoint
    body, content_type = _body(kind, size)
    visitor = editor_client if who == "editor" else client
    response = visitor.generic("POST", path, body, content_type=content_type)
    if len(body) > BODY_LIMIT:
        assert response.status_code == 413
    elif reads_form and kind in ("urlencoded", "multipart field") and size > SMALL_LIMIT:
        assert response.status_code == 400
    else:
        assert response.status_code < 500


def test_a_body_longer_than_its_content_length_says_is_cut_not_trusted(page, client, settings):
    """Content-Length is what counts: a lie in either direction is not a 500."""
    settings.MAX_REQUEST_BODY = BODY_LIMIT
    url = f"/feedback/on/{page.code}/"
    claimed_huge = client.generic(
        "POST", url, b"comment=x", content_type="text/plain", CONTENT_LENGTH=str(BODY_LIMIT + 1)
    )
    assert claimed_huge.status_code == 413
    claimed_small = client.generic(
        "POST",
        url,
        b"comment=" + b"x" * 5000,
        content_type="application/x-www-form-urlencoded",
        CONTENT_LENGTH="9",
    )
    assert claimed_small.status_code == 200  # read 9 bytes: an incomplete form, shown again
    assert not Feedback.objects.exists()


# --- Open redirects ------------------------------------------------------------------------

OFF_SITE = [
    "//evil.example",
    "///evil.example",
    "https://evil.example/x",
    "http://evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "\\/evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " //evil.example",
    "\t//evil.example",
    "\x01//evil.example",
    "https:evil.example",
    "http:/\\evil.example",
    "//evil.example@testserver",
    "//testserver@evil.example",
    "https://testserver.evil.example/",
    "data:text/html,<script>alert(1)</script>",
    "/%2F%2Fevil.example",
    "//%65vil.example",
    "\u3002evil.example",
    "／／evil.example",  # fullwidth solidus
]


def assert_stays_on_site(location: str):
    assert location, "no redirect target"
    assert location == location.strip() and not re.search(r"[\x00-\x1f\x7f]", location)
    normalised = location.replace("\\", "/")  # browsers read a backslash as a slash
    parts = urlsplit(normalised)
    assert parts.scheme in ("", "http", "https"), location
    assert parts.netloc in ("", "testserver"), location
    assert not normalised.startswith("//"), location


next_values = st.one_of(
    st.sampled_from(OFF_SITE),
    st.tuples(st.sampled_from(OFF_SITE), st.text(max_size=20)).map("".join),
)


@hsettings(max_examples=30, **QUICK)
@given(target=next_values, in_query=st.booleans())
@example(target="/mitigations/", in_query=False)
def test_sign_in_never_redirects_off_site(reviewer, target, in_query):
    client = Client()
    data = {"username": reviewer.username, "password": PASSWORD}
    url = "/accounts/signin/"
    if in_query:
        url += f"?next={encode(target)}"
    else:
        data["next"] = target
    nul = NUL in target  # a NUL in a query string is refused up front (400)
    response = client.post(url, data)
    if in_query and nul:
        assert response.status_code == 400
        return
    assert response.status_code == 302
    assert_stays_on_site(response["Location"])
    # Signed in, the sign-in page redirects at once (redirect_authenticated_user).
    again = client.get(f"/accounts/signin/?next={encode(target)}")
    if nul:
        assert again.status_code == 400
        return
    assert again.status_code == 302
    assert_stays_on_site(again["Location"])


@hsettings(max_examples=30, **QUICK)
@given(target=next_values, admin=st.booleans())
def test_sign_out_and_admin_sign_in_never_redirect_off_site(editor, target, admin):
    client = Client()
    if admin:
        response = client.post(
            f"/admin/login/?next={encode(target)}",
            {"username": editor.username, "password": PASSWORD, "next": target},
        )
    else:
        client.force_login(editor)
        response = client.post("/accounts/signout/", {"next": target})
    if admin and NUL in target:  # in the query string: refused up front
        assert response.status_code == 400
        return
    assert response.status_code == 302
    assert_stays_on_site(response["Location"])


# --- The admin's query strings (editors only) ----------------------------------------------

ADMIN_URLS = [
    "/admin/feedback/feedback/?q=%00",
    "/admin/feedback/feedback/?q=%22%3Cscript%3E%22",
    "/admin/feedback/feedback/?q=%22%3Cscript%3E",  # an unbalanced quote
    "/admin/feedback/feedback/?o=%00",
    "/admin/feedback/feedback/?by=%00",
    "/admin/feedback/feedback/?category=%00",
    "/admin/feedback/feedback/?page=%00",
    "/admin/feedback/feedback/?status__exact=%00",
    "/admin/feedback/feedback/?status__exact=nonsense",
    "/admin/feedback/feedback/?created_at__year=abc",
    "/admin/feedback/feedback/?created_at__year=99999999999999999999",
    "/admin/feedback/feedback/?created_at__year=9999&created_at__month=12&created_at__day=31",
    "/admin/feedback/feedback/99999999999999999999/change/",
    "/admin/feedback/feedback/export/?bogus=1",
    "/admin/feedback/feedback/export/?created_at__year=",
    "/admin/mitigations/mitigation/?q=%ED%A0%80",
    "/admin/mitigations/mitigation/?category__id__exact=99999999999999999999",
    "/admin/mitigations/mitigation/?updated_at__year=9999&updated_at__month=12",
    "/admin/autocomplete/?term=%00&app_label=mitigations&model_name=mitigation&field_name=related",
]


@pytest.mark.parametrize("url", ADMIN_URLS)
def test_admin_query_strings_never_fail(editor_client, url):
    editor_client.raise_request_exception = False
    response = editor_client.get(url)
    if response.status_code >= 500:
        raise AssertionError(f"{url} answered {response.status_code}")


# --- The admin's autocomplete fields (editors only) ----------------------------------------


def _admins_and_inlines():
    for model, model_admin in admin.site._registry.items():
        yield model_admin
        for inline in model_admin.inlines:
            yield inline(model, admin.site)


AUTOCOMPLETE_FIELDS = sorted(
    (model._meta.label, name)
    for model, model_admin in admin.site._registry.items()
    for name in model_admin.autocomplete_fields
)
# One object to edit per model whose admin has autocomplete fields.
OBJECT_FACTORIES = {
    "mitigations.Mitigation": MitigationFactory,
    "mitigations.Figure": FigureFactory,
}


def test_every_admin_with_autocomplete_fields_is_protected():
    """The property test below covers the model admins' autocomplete fields; a new admin
    with autocomplete fields must use SafeAutocompleteMixin (and an inline with them would
    need the test extended to its form prefix)."""
    assert AUTOCOMPLETE_FIELDS, "no autocomplete fields found in the admin registry"
    for owner in _admins_and_inlines():
        if owner.autocomplete_fields:
            assert isinstance(owner, SafeAutocompleteMixin), type(owner).__name__
            assert isinstance(owner, admin.ModelAdmin), f"extend the test to {owner}"
    for label, _ in AUTOCOMPLETE_FIELDS:
        assert label in OBJECT_FACTORIES, f"add a factory for {label}"


@pytest.fixture
def linked_objects(db):
    """Something to link to for every autocomplete field, and one object per edited model."""
    CategoryFactory(code="7.2.1", name="Another category")
    LifecycleStageFactory()
    ActorFactory()
    RmfFunctionFactory()
    SourceFactory()
    MitigationFactory(code="H300")
    return {label: factory() for label, factory in OBJECT_FACTORIES.items()}


def _names_an_object(model, value: str) -> bool:
    """Whether `value` picks an existing object, as the form reads it (int(), so surrounding
    blanks, a sign, `_` between digits and non-ASCII digits are fine)."""
    try:
        pk = int(value)
    except ValueError:
        return False
    return abs(pk) < 2**63 and model._default_manager.filter(pk=pk).exists()


def _snapshot(obj, name):
    field = obj._meta.get_field(name)
    obj = type(obj)._default_manager.get(pk=obj.pk)
    if field.many_to_many:
        value = sorted(getattr(obj, name).values_list("pk", flat=True))
    else:
        value = getattr(obj, field.attname)
    return value, obj.history.count()


NUL_CODE = "null_characters_not_allowed"
key_text = st.one_of(
    st.sampled_from(
        ["abc", "xyz", "1e3", "1.0", "0x10", NUL, "1" + NUL, "-1", "99999999999999999999", "½"]
    ),
    st.integers().map(str),
    hostile(max_pieces=3, long=(5001,)),
)


@pytest.mark.parametrize(("label", "name"), AUTOCOMPLETE_FIELDS)
@hsettings(max_examples=15, **QUICK)
@given(values=st.lists(key_text, min_size=1, max_size=3), with_valid=st.booleans())
@example(values=["abc"], with_valid=False)
@example(values=["1e3"], with_valid=True)
@example(values=[NUL], with_valid=False)
@example(values=["99999999999999999999"], with_valid=False)
def test_hand_made_autocomplete_values_are_a_form_error_not_a_500(
    editor_client, linked_objects, label, name, values, with_valid
):
    obj = linked_objects[label]
    field = obj._meta.get_field(name)
    target = field.related_model
    url = f"/admin/{obj._meta.app_label}/{obj._meta.model_name}/{obj.pk}/change/"
    form = form_by_id(editor_client.get(url).text, f"{obj._meta.model_name}_form")
    sent = values if field.many_to_many else values[:1]
    if with_valid and field.many_to_many:
        sent = [str(target._default_manager.order_by("pk").first().pk), *sent]
    form.fields = [(k, v) for k, v in form.fields if k != name] + [(name, v) for v in sent]
    before = _snapshot(obj, name)

    body = "&".join(f"{encode(k)}={encode(v)}" for k, v in form.fields).encode("ascii")
    response = editor_client.generic(
        "POST", url, body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code in (200, 302), response.status_code
    if field.many_to_many:  # every value must pick an object, a blank one too
        acceptable = all(_names_an_object(target, v) for v in sent)
    else:  # "" is no choice
        acceptable = (sent[0] == "" and field.blank) or _names_an_object(target, sent[0])
    if response.status_code == 302:
        assert acceptable, (sent, response["Location"])
        return
    assert not acceptable, sent
    form_errors = response.context["adminform"].form.errors
    codes = {e.code for e in form_errors.as_data()[name]}
    assert codes <= {"invalid_choice", "invalid_pk_value", "required", NUL_CODE}, codes
    for message in form_errors[name]:  # shown with the field
        assert escape(message) in response.text
    assert _snapshot(obj, name) == before  # nothing saved
    assert_no_raw_markup(response.text, *sent)
