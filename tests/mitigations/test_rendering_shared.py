"""render_markdown keeps a text's HTML in the shared cache, by the text's digest and the
rendering's format: a worker that meets a page first reads what another worker made."""

import hashlib

from django.core.cache import cache

from mitigations import rendering


def test_the_html_is_shared_by_digest_and_format():
    text = "**Bold** and <script>alert(1)</script> [x](javascript:alert(1))"
    rendering.render_markdown.cache_clear()
    html = rendering.render_markdown(text)
    assert "<strong>Bold</strong>" in html and "<script" not in html and "javascript" not in html
    key = f"markdown:{rendering._FORMAT}:{hashlib.sha256(text.encode()).hexdigest()}"
    assert cache.get(key) == html
    cache.set(key, "<p>made by another worker</p>")
    rendering.render_markdown.cache_clear()  # this process meets the text for the first time
    assert rendering.render_markdown(text) == "<p>made by another worker</p>"
    cache.delete(key)
    rendering.render_markdown.cache_clear()
