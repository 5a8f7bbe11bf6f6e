"""Rate limits on public forms, counted in the cache that every app server shares.

A rate is written "5/h": that many in a fixed window of a second (s), a minute (m),
an hour (h) or a day (d); "10/15m" is ten per fifteen minutes. Counters are keyed by
a keyed hash of what they count (a client address, an email), never the value itself.
"""

import ipaddress
import re
import time
from contextlib import suppress
from email.errors import HeaderParseError
from email.headerregistry import Address

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")


def parse_rate(rate):
    """(allowed count, window in seconds) from "5/h"; ValueError when it is not a rate.

    Both the count and the window are at least 1: "0/h" would refuse every request and
    "5/0h" would divide by a zero window. booking/checks.py shows the error at startup.
    """
    match = _RATE.match(rate) if isinstance(rate, str) else None
    if not match:
        raise ValueError(f"Not a rate: {rate!r} (write it like 5/h, 3/d or 10/15m).")
    count, multiple, unit = match.groups()
    count, window = int(count), int(multiple or 1) * UNITS[unit]
    if count < 1 or window < 1:
        raise ValueError(
            f"Not a rate: {rate!r} (the count and the window must each be at least 1; "
            "write it like 5/h, 3/d or 10/15m)."
        )
    return count, window


def client_address(request):
    """The client's address, trusting as many proxies as settings.PROXY_COUNT says.

    Each proxy appends the address it was reached from to X-Forwarded-For, so behind N of
    them the client is the N-th address from the right. Whatever stands further left was
    sent by the client itself, and would let it choose its own address.

    An IPv6 client is its /64 (given as the network's first address): one device or home
    is given a whole /64 and can send from any address in it, so counting addresses would
    give it a fresh limit, and a fresh five password guesses, with each.
    """
    candidates = [request.META.get("REMOTE_ADDR", "")]
    if settings.PROXY_COUNT:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if len(forwarded) >= settings.PROXY_COUNT:
            candidates.insert(0, forwarded[-settings.PROXY_COUNT].strip())
    for candidate in candidates:
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        if address.version == 6:
            if address.ipv4_mapped:
                return str(address.ipv4_mapped)
            return str(ipaddress.IPv6Network((address, 64), strict=False).network_address)
        return str(address)
    return None  # no address at all (axes stores it as unknown)


def mailbox(email):
    """The inbox an address delivers to: neither case, a +tag nor quoting makes another one.

    "ada"@ and "a\\da"@ are ada@ (a quoted local part is its characters, unescaped).
    """
    local, _, domain = email.strip().rpartition("@")
    if '"' in local or "\\" in local:
        with suppress(ValueError, IndexError, HeaderParseError):  # else counted as typed
            local = Address(addr_spec=email.strip()).username
    return f"{local.lower().split('+', 1)[0]}@{domain.lower()}"


class Limit:
    """One rate limit: `scope` names what it counts, `rate` how many are allowed."""

    def __init__(self, scope, rate):
        self.scope = scope
        self.count, self.window = parse_rate(rate)

    def _key(self, identity, now):
        salt = f"booking.throttle.{self.scope}"
        digest = salted_hmac(salt, str(identity), algorithm="sha256").hexdigest()[:32]
        return f"throttle:{self.scope}:{digest}:{int(now // self.window)}"

    def hit(self, identity, now=None):
        """Count one more for `identity`; False when that goes over the limit."""
        now = time.time() if now is None else now
        key = self._key(identity, now)
        cache.add(key, 0, timeout=self.window + 60)
        try:
            used = cache.incr(key)
        except ValueError:
            # Evicted between add and incr: start again.
            cache.set(key, 1, timeout=self.window + 60)
            used = 1
        return used <= self.count

    def retry_after(self, now=None):
        """Seconds until the current window ends."""
        now = time.time() if now is None else now
        return int(self.window - now % self.window) + 1


# The settings booking_limits() reads, each checked at startup (booking/checks.py).
RATE_SETTINGS = ("CLINIC_BOOKING_RATE", "CLINIC_BOOKING_EMAIL_RATE")


def booking_limits():
    """The request form's limits: per client address and per patient email (settings)."""
    return (
        Limit("booking-address", settings.CLINIC_BOOKING_RATE),
        Limit("booking-email", settings.CLINIC_BOOKING_EMAIL_RATE),
    )
