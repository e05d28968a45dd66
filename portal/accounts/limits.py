"""Limits on guessing secrets (passwords now; the second factor's codes later) and on
password-reset mail.

Three limits guard sign-in; a client is its `client_key` (IPv4 address, IPv6 /64):

1. Per (username, client): django-axes' own lockout (AXES_LOCKOUT_PARAMETERS, settings.py):
   AXES_FAILURE_LIMIT failures lock that pair for AXES_COOLOFF_TIME. Axes stores addresses
   only, so it is given the key as an address (clientip.client_key_address).
2. Per client, across usernames (password spraying): SIGNIN_ADDRESS_LIMIT failures within
   SIGNIN_ADDRESS_WINDOW seconds lock the client out of every account for
   SIGNIN_ADDRESS_LOCKOUT seconds. A success from the client does not clear the count.
3. Per account, across clients (distributed guessing): from SIGNIN_ACCOUNT_LIMIT failures
   on, an episode ending after SIGNIN_ACCOUNT_WINDOW quiet seconds, each failure makes the
   account wait before the next attempt is even checked: SIGNIN_ACCOUNT_DELAY seconds,
   doubling per further failure, at most SIGNIN_ACCOUNT_MAX_DELAY. A throttle, not a
   lockout: the owner still gets in once the wait is over, and a stranger cannot lock them
   out for longer than the current wait. Counted per username as typed (casefolded), whether
   an account has it or not, so the answer says nothing about which accounts exist. When an
   episode starts the account's owner (if it has an email) and the editors are mailed, once.

Why 2 and 3 are not axes' configuration: AXES_LOCKOUT_PARAMETERS can add "ip_address" and
"username" alone, but all parameter sets share one AXES_FAILURE_LIMIT (the largest count is
compared with it), "username" is a hard lockout (exactly the cheap lockout of a victim the
account limit must avoid: axes has no throttle or growing delay), and AXES_RESET_ON_SUCCESS
deletes every attempt matching any set, so a sprayer signing in to an account of their own
would clear their address's count.

Attempts refused by a limit are not checked and not counted (AXES_RESET_COOL_OFF_ON_FAILURE_
DURING_LOCKOUT = False keeps axes from counting them too), so hammering a throttled account
does not make the wait longer.

Counted in the shared cache (Redis; atomic incr). While the cache is unavailable limits 2
and 3 cannot count and let attempts through; limit 1 (in the database) still holds.

Use from other code (the second factor): `check(request, account, kind="code")` before
checking a code, `failed(...)` after a wrong one, `succeeded(...)` after a right one.

Logged on "portal.accounts.limits" at WARNING: every lockout and throttle start and every
refused attempt (client key, username hash, reason), and password-reset requests over limit.
"""

import hashlib
import logging
import math
import time
from dataclasses import dataclass
from functools import partial

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMessage
from django.db import transaction
from django.shortcuts import render
from django.tasks import task
from django.template.loader import render_to_string

from feedback import counters
from feedback.notifications import editor_addresses
from portal.lib.clientip import client, client_key

log = logging.getLogger(__name__)

PREFIX = "limits"


@dataclass(frozen=True)
class Refusal:
    reason: str  # "address", "account" (or "pair": axes' own lockout, in the response only)
    retry_after: int  # seconds


def account_id(account: str) -> str:
    """A username as a cache key: casefolded, hashed (no user text in keys or logs)."""
    normal = str(account or "").strip().casefold()[:254]
    return hashlib.sha256(normal.encode("utf-8", "replace")).hexdigest()[:24]


# --- Counting in the shared cache ----------------------------------------------------------


def count(key: str, window: int, *, slide: bool = False) -> int | None:
    """Count one more for `key` (feedback/counters.py: atomic across processes); None when
    the cache cannot count. The count lives `window` seconds from its first hit, or
    (slide=True) from its latest."""
    value = counters.count(key, window)
    if value is not None and slide:
        cache.touch(key, window)
    return value


def _until(key: str, now: float) -> int | None:
    """Seconds left of a block stored as its end time under `key`, or None."""
    until = cache.get(key)
    if isinstance(until, int | float) and until > now:
        return max(1, math.ceil(until - now))
    return None


def _block(key: str, seconds: int, now: float) -> None:
    cache.set(key, now + seconds, timeout=max(1, math.ceil(seconds)) + 1)


# --- Sign-in: the policy -------------------------------------------------------------------


def _keys(kind: str, request, account: str) -> dict[str, str]:
    base = f"{PREFIX}:{kind}"
    who, acct = client_key(request), account_id(account)
    return {
        "address": f"{base}:addr:{who}",
        "address_block": f"{base}:addr-block:{who}",
        "account": f"{base}:acct:{acct}",
        "account_next": f"{base}:acct-next:{acct}",
        "account_mailed": f"{base}:acct-mailed:{acct}",
    }


def check(request, account: str, *, kind: str = "password", now: float | None = None):
    """A Refusal if this client or this account must not try now, else None."""
    now = time.time() if now is None else now
    keys = _keys(kind, request, account)
    refusal = None
    wait = _until(keys["address_block"], now)
    if wait is not None:
        refusal = Refusal("address", wait)
    else:
        wait = _until(keys["account_next"], now)
        if wait is not None:
            refusal = Refusal("account", wait)
    if refusal is not None:
        log.warning(
            "%s attempt refused (%s limit, %d s left): client=%s account=%s",
            kind,
            refusal.reason,
            refusal.retry_after,
            client(request).key,
            account_id(account),
        )
    return refusal


def failed(request, account: str, *, kind: str = "password", now: float | None = None) -> None:
    """Count a wrong secret for `account` from this request's client."""
    now = time.time() if now is None else now
    keys = _keys(kind, request, account)
    who = client(request)

    failures = count(keys["address"], settings.SIGNIN_ADDRESS_WINDOW)
    if failures is not None and failures >= settings.SIGNIN_ADDRESS_LIMIT:
        _block(keys["address_block"], settings.SIGNIN_ADDRESS_LOCKOUT, now)
        cache.delete(keys["address"])  # the next episode counts afresh
        log.warning(
            "%s: client %s locked out for %d s after %d failures (any usernames)",
            kind,
            who.key,
            settings.SIGNIN_ADDRESS_LOCKOUT,
            failures,
        )

    window = settings.SIGNIN_ACCOUNT_WINDOW
    failures = count(keys["account"], window, slide=True)
    if failures is None or failures < settings.SIGNIN_ACCOUNT_LIMIT:
        return
    steps = failures - settings.SIGNIN_ACCOUNT_LIMIT
    delay = min(
        settings.SIGNIN_ACCOUNT_MAX_DELAY, settings.SIGNIN_ACCOUNT_DELAY * 2 ** min(steps, 30)
    )
    _block(keys["account_next"], delay, now)
    log.warning(
        "%s: account %s throttled for %d s after %d failures (last from %s)",
        kind,
        account_id(account),
        delay,
        failures,
        who.key,
    )
    if cache.add(keys["account_mailed"], now, timeout=window):
        transaction.on_commit(
            partial(notify_account_throttled.enqueue, str(account)[:150], kind, failures)
        )
    else:
        cache.touch(keys["account_mailed"], window)  # one mail for the whole episode


def succeeded(request, account: str, *, kind: str = "password") -> None:
    """A right secret: the account's current wait is over (its count stays: a further
    failure in the same episode waits longer). The client's count stays too."""
    cache.delete(_keys(kind, request, account)["account_next"])


# --- Sign-in: wiring into Django's authentication --------------------------------------------


class SignInLimitsBackend:
    """Refuses an attempt over limit 2 or 3 before any password is checked.

    Listed after axes' backend (so it only sees attempts axes allows) and before the backend
    that checks passwords. A refusal raises PermissionDenied, which makes `authenticate`
    stop, send user_login_failed and return None; it also sets `axes_locked_out`, so that
    axes neither counts the attempt nor lets the page through: AxesMiddleware answers with
    `lockout_response` below.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        username = "" if username is None else str(username)
        refusal = check(request, username)
        if refusal is not None:
            request.signin_refusal = refusal
            request.axes_locked_out = True
            raise PermissionDenied(f"sign-in refused: {refusal.reason} limit")
        request.signin_checked_account = username
        return None  # never signs anyone in (and has no get_user: never a session's backend)


def axes_username(request, credentials) -> str | None:
    """AXES_USERNAME_CALLABLE: the username as axes records it, cut to what its column holds
    (a longer one, which no account has, made the failure log's INSERT fail: a 500)."""
    if credentials:
        username = credentials.get(get_user_model().USERNAME_FIELD)
    else:
        username = getattr(request, "POST", {}).get(get_user_model().USERNAME_FIELD)
    if username is None:
        return None
    return str(username).replace("\x00", "")[:150]


def login_failed(request, credentials) -> None:
    """user_login_failed: count the failure if the password was really checked."""
    if request is None or getattr(request, "signin_refusal", None) is not None:
        return
    account = getattr(request, "signin_checked_account", None)
    if account is None:  # refused by axes before our backend, or no request-based sign-in
        return
    failed(request, account)


def logged_in(request, user) -> None:
    if request is not None and getattr(request, "signin_checked_account", None) is not None:
        succeeded(request, user.get_username())


_MESSAGES = {
    "pair": "Signing in to this account from here is paused after repeated failed attempts.",
    "address": "Signing in from your network is paused after many failed attempts.",
    "account": (
        "Signing in to this account is slowed down after many failed attempts from "
        "different places."
    ),
}


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: the 429 page for every sign-in limit, with Retry-After."""
    refusal = getattr(request, "signin_refusal", None)
    if refusal is None:
        cool_off = get_cool_off(request)
        refusal = Refusal("pair", int(cool_off.total_seconds()) if cool_off else 3600)
    minutes = max(1, math.ceil(refusal.retry_after / 60))
    response = render(
        request,
        settings.AXES_LOCKOUT_TEMPLATE,
        {
            "reason": refusal.reason,
            "reason_text": _MESSAGES[refusal.reason],
            "retry_minutes": minutes,
        },
        status=429,
    )
    response["Retry-After"] = str(refusal.retry_after)
    return response


@task
def notify_account_throttled(username: str, kind: str, failures: int) -> int:
    """Mail the account's owner (if it exists and has an email) and the editors."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:  # no such account: nothing to tell anyone (the throttle still applies)
        return 0
    recipients = set(editor_addresses())
    if user.email:
        recipients.add(user.email)
    if not recipients:
        return 0
    context = {
        "username": user.get_username(),
        "failures": failures,
        "what": "wrong passwords" if kind == "password" else "wrong codes",
        "site_name": settings.SITE_NAME,
        "window_hours": max(1, settings.SIGNIN_ACCOUNT_WINDOW // 3600),
    }
    sent = 0
    for address in sorted(recipients):  # one mail each: the owner's address is not shared
        message = EmailMessage(
            subject=f"[{settings.SITE_NAME}] Repeated failed sign-ins to an account",
            body=render_to_string("registration/email/signin_throttled.txt", context),
            to=[address],
        )
        sent += message.send()
    return sent


# --- Password reset --------------------------------------------------------------------------


def password_reset_allowed(request, email: str) -> bool:
    """Count a password-reset request; False when over the per-client or per-address limit
    (PASSWORD_RESET_LIMITS). The caller answers the same either way and sends no mail."""
    limits = settings.PASSWORD_RESET_LIMITS
    allowed = True
    for scope, ident in (("address", client_key(request)), ("account", account_id(email))):
        limit, window = limits[scope]
        hits = count(f"{PREFIX}:reset:{scope}:{window}:{ident}", window)
        if hits is not None and hits > limit:
            allowed = False
    if not allowed:
        log.warning(
            "password reset over limit: client=%s email=%s (no mail sent)",
            client_key(request),
            account_id(email),
        )
    return allowed
