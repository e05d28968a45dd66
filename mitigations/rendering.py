"""Markdown to sanitised HTML: no scripts, event handlers, javascript: links or images."""

import functools
import hashlib
import threading

import markdown
import nh3
from django.core.cache import cache

ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "b",
    "i",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "sup",
    "sub",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"scope"}}


EXTENSIONS = ("tables", "sane_lists")
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow noopener noreferrer"
# What the HTML of a text depends on besides the text: part of the shared cache's key, so
# that a release that renders differently never reads an older release's HTML (bump the
# first number when the code below changes what it makes).
_FORMAT = hashlib.sha256(
    repr(
        (1, sorted(ALLOWED_TAGS), sorted((k, sorted(v)) for k, v in ALLOWED_ATTRIBUTES.items()),
         EXTENSIONS, sorted(URL_SCHEMES), LINK_REL, markdown.__version__, nh3.__version__)
    ).encode()
).hexdigest()[:12]  # fmt: skip

_converters = threading.local()


def _converter():
    """One Markdown converter per thread, reset between texts (building one, with its
    extensions, cost a third of converting a page's text)."""
    converter = getattr(_converters, "converter", None)
    if converter is None:
        converter = markdown.Markdown(extensions=list(EXTENSIONS), output_format="html")
        _converters.converter = converter
    return converter.reset()


def _render(text: str) -> str:
    html = _converter().convert(text or "")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
    )


SHARED_SECONDS = 24 * 60 * 60


@functools.lru_cache(maxsize=1024)  # the same text gives the same HTML: once per process
def render_markdown(text: str) -> str:
    """The text's sanitised HTML, also kept in the shared cache (by the text's digest): every
    worker meets most pages for the first time, and converting cost 0.4 ms."""
    key = f"markdown:{_FORMAT}:{hashlib.sha256((text or '').encode()).hexdigest()}"
    html = cache.get(key)
    if html is None:
        html = _render(text)
        cache.set(key, html, SHARED_SECONDS)
    return html
