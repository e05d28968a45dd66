"""The second factor (django-otp): one authenticator-app device (TOTP) per account and a set
of single-use recovery codes (django-otp's static device).

An account that can see restricted figures or use the admin (`access.needs_second_factor`)
acts in its role only in a session that passed the second factor: django-otp's
OTPMiddleware marks the request's user (`user.is_verified()`), and the access policy reads
that mark. Wrong codes are counted by portal/accounts/limits.py like wrong passwords.
"""

import base64
import re
import time

import segno
from django.core.cache import cache
from django.db import transaction
from django_otp import device_classes
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

APP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
RECOVERY_CODES = 10

TOTP_RE = re.compile(r"^[0-9]{6}$")
RECOVERY_RE = re.compile(r"^[a-z2-7]{8}$")  # StaticToken.random_token(): 5 bytes, base32


def normalise(code: str) -> str:
    """A typed code without the spaces and dashes people add ("123 456", "abcd-efgh")."""
    return re.sub(r"[\s\-]", "", str(code or "")).lower()


def kind_of(code: str) -> str | None:
    """'totp', 'recovery', or None when the text cannot be a code at all."""
    if TOTP_RE.match(code):
        return "totp"
    if RECOVERY_RE.match(code):
        return "recovery"
    return None


def app_device(user, *, confirmed=True):
    return TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("pk").first()


def has_device(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def setup_device(user):
    """The unconfirmed device being set up for `user` (created on first call: the secret
    stays the same while the user fetches their phone, reloads the page ...)."""
    device = app_device(user, confirmed=False)
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)
    return device


def secret_text(device) -> str:
    """The device's secret as authenticator apps take it when typed (base32, in groups)."""
    b32 = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return " ".join(b32[i : i + 4] for i in range(0, len(b32), 4))


def qr_svg_data_uri(device) -> str:
    """The device's otpauth:// URI as a QR code: an SVG made here (no service, no script),
    as a data: URI for an <img> (the CSP allows data: images)."""
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)


@transaction.atomic
def confirm(user, device, code: str) -> list[str] | None:
    """Check the first code of a device being set up; if right, make it the account's only
    device, replace the recovery codes and return them (shown once), else None."""
    device = TOTPDevice.objects.select_for_update().filter(pk=device.pk, user=user).first()
    if device is None or device.confirmed or not device.verify_token(code):
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return new_recovery_codes(user)


def new_recovery_codes(user) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    static = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=static, token=c) for c in codes)
    return codes


def verify(user, code: str):
    """The confirmed device that accepts `code` (a TOTP code or an unused recovery code,
    which is then used up), or None."""
    kind = kind_of(code)
    if kind is None:
        return None
    model = TOTPDevice if kind == "totp" else StaticDevice
    with transaction.atomic():
        for device in model.objects.filter(user=user, confirmed=True).select_for_update():
            if device.verify_token(code):
                return device
    return None


def recovery_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def mark_verified(request, device) -> None:
    """This session passed the second factor with `device` (django-otp keeps it in the
    session; OTPMiddleware checks the device still exists on every request)."""
    otp_login(request, device)


def reset(user) -> int:
    """Remove the account's devices and recovery codes: its sessions stop being verified at
    once, and the next sign-in sets up a new device. Returns how many devices went."""
    deleted = TOTPDevice.objects.filter(user=user).delete()[1].get(TOTPDevice._meta.label, 0)
    deleted += StaticDevice.objects.filter(user=user).delete()[1].get(StaticDevice._meta.label, 0)
    return deleted


# --- Codes for scripts and tests (the demo's `totp_code`, the benchmark, the test suite) ---


def code_at(device, when: float) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = when
    return f"{totp.token():0{device.digits}d}"


def fresh_code(device, *, wait: bool = True) -> str:
    """A code the device will accept now: the current one, or the next step's when the
    current one was used already (a code is accepted once). Waits for the next step if
    both were used and `wait`."""
    device.refresh_from_db(fields=["last_t", "drift"])
    while True:
        now = time.time()
        t = int(now - device.t0) // device.step + device.drift
        for step in (t, t + device.tolerance):
            if step > device.last_t:
                return code_at(device, now + (step - t) * device.step)
        if not wait:
            raise RuntimeError("both acceptable codes were used; wait for the next step")
        time.sleep(device.step - (now - device.t0) % device.step + 0.05)


# --- The session's device, from the shared cache ---------------------------------------------
# OTPMiddleware loads the session's device on every signed-in request (one query): here it
# comes from the shared cache.
# Any change to a device (a code used, a reset, a deletion) drops its entry at once and when
# the transaction commits; while the cache is unavailable devices are read from the database.

DEVICE_CACHE_SECONDS = 5 * 60
_MISSING = "missing"


def _device_key(persistent_id: str) -> str:
    return f"portal:otp-device:{persistent_id}"


def cached_device(persistent_id: str, load):
    """The device a session names (`load(persistent_id)` on a miss), or None.

    The cache holds only what the middleware checks (whose device, confirmed), never its
    secret: a hit gives an instance with every other field deferred (read from the database
    if ever used; saving it writes only these fields)."""
    key = _device_key(persistent_id)
    found = cache.get(key)
    if found == _MISSING:
        return None
    if isinstance(found, tuple) and len(found) == 5:
        label, pk, user_id, name, confirmed = found
        model = next((m for m in device_classes() if m._meta.label == label), None)
        if model is not None:
            return model.from_db(
                None, ["id", "user_id", "name", "confirmed"], [pk, user_id, name, confirmed]
            )
    device = load(persistent_id)
    entry = (
        _MISSING
        if device is None
        else (device._meta.label, device.pk, device.user_id, device.name, device.confirmed)
    )
    cache.set(key, entry, DEVICE_CACHE_SECONDS)
    return device


def forget_device(sender, instance, **kwargs):
    """post_save / post_delete of any device model: its cached entry goes."""
    if not isinstance(instance, Device) or instance.pk is None:
        return
    key = _device_key(instance.persistent_id)
    cache.delete(key)
    transaction.on_commit(lambda: cache.delete(key))
