"""Secrets in URLs (tracking tokens, confirmation and reset links) never reach a log."""

import datetime
import io
import logging
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.test import Client
from django.utils.module_loading import import_string

from feedback.models import ContactAddress
from portal.lib.log_redaction import RedactFilter, RedactingGunicornLogger, redact

TOKEN = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "path, secret",
    [
        (f"/feedback/t/{TOKEN}/", TOKEN),
        (f"/feedback/thanks/{TOKEN}/", TOKEN),
        ("/feedback/confirm/eyJlIjoiYUBleGFtcGxlLm9yZyJ9:1xYZ:abc-def_1/", "eyJlIjoiYUBl"),
        ("/accounts/password/reset/MQ/c4s9ab-0123456789abcdef/", "c4s9ab"),
        (f"/accounts/welcome/{TOKEN}/", TOKEN),
    ],
)
def test_paths_are_redacted(path, secret):
    line = f'GET {path}?x=1 HTTP/1.1" 200'
    cleaned = redact(line)
    assert secret not in cleaned and "[redacted]" in cleaned
    assert cleaned.startswith("GET /") and "?x=1" in cleaned


@pytest.mark.parametrize(
    "path",
    ["/feedback/", "/feedback/on/A1/", "/accounts/password/reset/",
     "/accounts/password/reset/sent/", "/accounts/password/reset/complete/", "/mitigations/x/",
     "/accounts/welcome/set-password/"],
)  # fmt: skip
def test_other_paths_are_kept(path):
    assert redact(path) == path


def _access_line(tmp_path, path):
    from gunicorn.config import Config

    cfg = Config()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    logger = RedactingGunicornLogger(cfg)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": path,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "HTTP_REFERER": f"https://portal.example.org{path}",
    }
    resp = SimpleNamespace(status="200 OK", headers=[], sent=10)
    req = SimpleNamespace(headers=[("REFERER", f"https://portal.example.org{path}")])
    logger.access(resp, req, environ, datetime.timedelta(milliseconds=5))
    for handler in logger.access_log.handlers:
        handler.flush()
    return (tmp_path / "access.log").read_text()


def test_gunicorn_access_log_is_redacted(tmp_path):
    line = _access_line(tmp_path, f"/feedback/t/{TOKEN}/")
    assert TOKEN not in line
    assert "GET /feedback/t/[redacted]/ HTTP/1.1" in line


def test_gunicorn_is_configured_with_the_redacting_logger():
    conf = runpy.run_path(str(ROOT / "portal" / "gunicorn_conf.py"))
    assert import_string(conf["logger_class"]) is RedactingGunicornLogger


@pytest.mark.django_db
def test_django_log_lines_are_redacted():
    """Django logs a 4xx with its path ("Not Found: /feedback/t/…"); the portal's handler
    writes it redacted."""
    (handler,) = [
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RedactFilter) for f in h.filters)
    ]
    stream = io.StringIO()
    original = handler.setStream(stream)
    try:
        assert Client().get(f"/feedback/t/{TOKEN}/").status_code == 404
        token = ContactAddress.token_for("a@example.org")[:-3] + "xyz"
        assert Client().get(f"/feedback/confirm/{token}/").status_code == 400
    finally:
        handler.setStream(original)
    written = stream.getvalue()
    assert "/feedback/t/[redacted]/" in written
    assert TOKEN not in written and token not in written
