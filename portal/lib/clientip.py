"""Who a request came from: its address, and the key that limits count it by.

With TRUSTED_PROXY_COUNT = N > 0, each of our N proxies appended the address it saw to
X-Forwarded-For, so the client is the N-th entry from the right; anything further left was
written by the client and is not trusted. A shorter header means the request entered at one
of the inner proxies: its left-most entry is still one a proxy of ours wrote. With no
header at all, or N = 0, only REMOTE_ADDR counts.

A hop may be written as `ip`, `ip:port`, `[v6]` or `[v6]:port` (proxies differ). A hop that
still cannot be parsed is not replaced by the proxy's address: that would make every client
the proxy, so that one attacker could lock everyone out and use up the site-wide limits.
The request becomes a client of its own instead ("unknown-<hash of the hop>"), and the hop
is logged (WARNING on "portal.lib.clientip", each value at most once a minute per process).

Limits count clients by `client_key`: an IPv4 address as it is, an IPv6 address by its /64
(one subscriber usually gets a whole /64 and can rotate freely inside it).

Why not django-ipware (python-ipware): it counts proxies differently (the last proxy is not in
the header), it looks at a dozen headers a client can set unless told not to, and one entry
it cannot parse anywhere in X-Forwarded-For (including the client-written part) makes it
skip the header and fall back to the next one, in the end REMOTE_ADDR: the proxy. What we
need is this one rule, and the fallback is what must not happen.
"""

import contextlib
import hashlib
import ipaddress
import logging
import re
import threading
import time
from dataclasses import dataclass

from django.conf import settings

log = logging.getLogger(__name__)

IPV6_PREFIX = 64
# Clients whose forwarded hop could not be parsed, for stores that only keep addresses
# (django-axes): the RFC 6666 discard-only prefix, with the hash of the hop below it.
_UNKNOWN_NET = ipaddress.IPv6Network("100::/64")

_BRACKETED = re.compile(r"\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?")
_IPV4_PORT = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_hop(value: str) -> Address | None:
    """The address in one X-Forwarded-For entry (`ip`, `ip:port`, `[v6]`, `[v6]:port`),
    or None. An IPv4-mapped IPv6 address is its IPv4 address; a zone (`%eth0`) is dropped."""
    text = value.strip()
    found = _BRACKETED.fullmatch(text) or _IPV4_PORT.fullmatch(text)
    if found:
        if found.group(2) is not None and int(found.group(2)) > 65535:
            return None
        text = found.group(1)
    text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class Client:
    address: Address | None  # None: the hop that names the client could not be parsed
    key: str  # what limits count: "192.0.2.1", "2001:db8:1:2::/64", "unknown-<16 hex>"

    @property
    def ip(self) -> str:
        """The address for logs, or the key of an unknown client."""
        return str(self.address) if self.address is not None else self.key

    @property
    def key_address(self) -> str:
        """The key as one address, for stores that keep addresses only (django-axes): the
        address (IPv4), the /64's first address (IPv6), one address in 100::/64 (unknown)."""
        if self.address is None:
            low = int(self.key.removeprefix("unknown-"), 16)
            return str(_UNKNOWN_NET[low])
        if self.address.version == 6:
            return str(ipaddress.IPv6Network((self.address, IPV6_PREFIX), strict=False)[0])
        return str(self.address)


def _known(address: Address) -> Client:
    if address.version == 6:
        net = ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False)
        return Client(address, str(net))
    return Client(address, str(address))


# Each unparsable value is logged at most once a minute per process (a proxy writing
# something we cannot parse would otherwise log every request), and only for so many values.
WARN_EVERY = 60.0
_MAX_WARNED = 1000
_warned: dict[str, float] = {}
_warned_lock = threading.Lock()


def _should_warn(key: str) -> bool:
    now = time.monotonic()
    with _warned_lock:
        last = _warned.get(key)
        if last is not None and now - last < WARN_EVERY:
            return False
        if len(_warned) >= _MAX_WARNED:
            for old in [k for k, at in _warned.items() if now - at >= WARN_EVERY]:
                del _warned[old]
            if len(_warned) >= _MAX_WARNED:
                return False
        _warned[key] = now
        return True


def _unknown(raw: str, where: str) -> Client:
    digest = hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()[:16]
    client = Client(None, f"unknown-{digest}")
    if _should_warn(client.key):
        log.warning(
            "unparsable client address in %s: %r; counted as %s", where, raw[:200], client.key
        )
    return client


def _resolve(request) -> Client:
    count = settings.TRUSTED_PROXY_COUNT
    if count > 0:
        header = request.META.get("HTTP_X_FORWARDED_FOR", "") or ""
        hops = [h.strip() for h in header.split(",")]
        hops = [h for h in hops if h]
        if hops:
            hop = hops[-count] if len(hops) >= count else hops[0]
            address = parse_hop(hop)
            return _known(address) if address is not None else _unknown(hop, "X-Forwarded-For")
    remote = request.META.get("REMOTE_ADDR", "") or ""
    address = parse_hop(remote)
    return _known(address) if address is not None else _unknown(remote, "REMOTE_ADDR")


def client(request) -> Client:
    """The request's client (worked out once per request)."""
    found = getattr(request, "_portal_client", None)
    if found is None:
        found = _resolve(request)
        with contextlib.suppress(AttributeError):  # a request-like object without attributes
            request._portal_client = found
    return found


def client_ip(request) -> str:
    """The client's address, for logs (an unknown client's key when it has none)."""
    return client(request).ip


def client_key(request) -> str:
    """What limits count this client by: "192.0.2.1" or "2001:db8:1:2::/64" (or
    "unknown-<hash>" when its forwarded hop could not be parsed)."""
    return client(request).key


def client_key_address(request) -> str:
    """`client_key` as one address (AXES_CLIENT_IP_CALLABLE: axes stores addresses only)."""
    return client(request).key_address
