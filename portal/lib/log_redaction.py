"""Secrets in URLs never reach a log: tracking tokens, confirmation, reset and setup links.

Some links carry a secret in the path (a feedback tracking page, a thank-you page, an email
confirmation link, a password reset link, an invitation's setup link): whoever reads the
access log could open them.
`redact(text)` replaces each such secret with `[redacted]`. It is used by the gunicorn
access log (`RedactingGunicornLogger`, set as `logger_class` in portal/gunicorn_conf.py)
and by a logging filter on the portal's log handler (`RedactFilter`, for Django's
"Not Found: /feedback/t/…" warnings and runserver's request lines).
"""

import logging
import re

# (pattern, replacement): the URL shapes of feedback/urls.py and portal/accounts/urls.py.
_PATTERNS = [
    (re.compile(r"(/feedback/(?:t|thanks)/)[A-Za-z0-9_-]+"), r"\1[redacted]"),
    (re.compile(r"(/feedback/confirm/)[A-Za-z0-9_:.-]+"), r"\1[redacted]"),
    (re.compile(r"(/accounts/password/reset/)(?!sent/|complete/)[^/\s?]+/[^/\s?]+"),
     r"\1[redacted]/[redacted]"),
    (re.compile(r"(/accounts/welcome/)(?!set-password/)[^/\s?]+"), r"\1[redacted]"),
]  # fmt: skip
REDACTED = "[redacted]"


def redact(text):
    if not isinstance(text, str) or "/" not in text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactFilter(logging.Filter):
    """A logging filter: the formatted message with secrets in paths redacted."""

    def filter(self, record):
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


try:  # only where gunicorn is installed (the production server)
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover
    _GunicornLogger = None

if _GunicornLogger is not None:

    class RedactingGunicornLogger(_GunicornLogger):
        """gunicorn's logger (its `logger_class` setting) with the path, request line,
        referrer and raw URI of every access log line redacted."""

        REDACTED_ATOMS = ("r", "U", "f", "{raw_uri}e", "{path_info}e", "{referer}i")

        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            for name in self.REDACTED_ATOMS:
                if name in atoms:
                    atoms[name] = redact(atoms[name])
            return atoms
