"""Sign-in log and sign-in limits: every sign-in, sign-out and failed sign-in is logged (axes
also records them), and failures are counted by portal/accounts/limits.py."""

import logging

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.accounts import limits, second_factor
from portal.lib.clientip import client

log = logging.getLogger("portal.auth")


def _who(request) -> str:
    if request is None:
        return "ip=-"
    found = client(request)
    return f"ip={found.ip} client={found.key}"


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    log.info("sign-in user=%s %s", user.get_username(), _who(request))
    limits.logged_in(request, user)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        log.info("sign-out user=%s %s", user.get_username(), _who(request))


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    log.warning("failed sign-in user=%r %s", username, _who(request))
    limits.login_failed(request, credentials)


# A changed or deleted second-factor device leaves the shared cache at once.
for _model in (TOTPDevice, StaticDevice):
    post_save.connect(second_factor.forget_device, sender=_model, dispatch_uid=f"{_model}-save")
    post_delete.connect(second_factor.forget_device, sender=_model, dispatch_uid=f"{_model}-del")
