"""Who a request acts for: a personal API token, else the session's user, else anonymous.

Tokens are kept by the accounts app, which sits above the catalogue (it may import this
app, not the other way round). Settings name the function that turns a token into its
owner (`API_TOKEN_AUTHENTICATOR`, like AUTHENTICATION_BACKENDS); it returns None for a
token that is unknown, revoked, expired or whose owner no longer holds a token role.
"""

import functools

from django.conf import settings
from django.utils.module_loading import import_string
from ninja.security import HttpBearer

from mitigations.api.errors import ApiError


def invalid_token() -> ApiError:
    return ApiError(
        401,
        "invalid_token",
        "The token is not valid: unknown, revoked or expired, or its owner lacks the role.",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


@functools.cache
def _authenticator():
    path = getattr(settings, "API_TOKEN_AUTHENTICATOR", "")
    return import_string(path) if path else (lambda raw: None)


def presented_token(request) -> str | None:
    """The raw Authorization header, if any (also what rate limits count tokens by)."""
    return request.headers.get("Authorization")


class ApiToken(HttpBearer):
    """`Authorization: Bearer <token>`. A header that is present but not a valid token is
    a 401: never silently treated as anonymous."""

    def __call__(self, request):
        header = presented_token(request)
        if header is None:
            return None
        scheme, _, raw = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise ApiError(
                401,
                "invalid_token",
                "Send the token as 'Authorization: Bearer <token>'.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_request"'},
            )
        return self.authenticate(request, raw.strip())

    def authenticate(self, request, token):
        user = _authenticator()(token)
        if user is None:
            raise invalid_token()
        request.api_via_token = True
        return user


class SessionOrAnonymous:
    """The browser's session (for the documentation page), or an anonymous reader."""

    openapi_security_schema = {
        "type": "apiKey",
        "in": "cookie",
        "name": "sessionid",
        "description": "A signed-in browser session (the documentation page's 'Try it out').",
    }

    def __call__(self, request):
        return request.user  # AnonymousUser is truthy: anonymous access is allowed


AUTH = [ApiToken(), SessionOrAnonymous()]
