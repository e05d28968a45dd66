"""The client's address, trusting X-Forwarded-For only from a configured number of proxies."""

import ipaddress

from django.conf import settings


def client_ip(request) -> str:
    """The address the request came from.

    With TRUSTED_PROXY_COUNT = N > 0, each of our N proxies appended the address it saw to
    X-Forwarded-For, so the client is the N-th entry from the right; anything further left
    was written by the client and is not trusted. With N = 0 only REMOTE_ADDR counts.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    count = settings.TRUSTED_PROXY_COUNT
    if count > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= count:
            candidate = hops[-count]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass
    return remote
