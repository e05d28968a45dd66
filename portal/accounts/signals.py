"""Sign-in log: every sign-in, sign-out and failed sign-in is logged (axes also records them)."""

import logging

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from portal.lib.clientip import client_ip

log = logging.getLogger("portal.auth")


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    log.info("sign-in user=%s ip=%s", user.get_username(), client_ip(request))


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        log.info("sign-out user=%s ip=%s", user.get_username(), client_ip(request))


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    log.warning("failed sign-in user=%r ip=%s", username, client_ip(request) if request else "-")
