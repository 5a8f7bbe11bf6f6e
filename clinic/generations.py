"""Cache generations: one token per kind of content, changed whenever that content changes.

Cached things (public pages, open times, the clinic's record) are stored under keys that
carry the current token of what they were built from. A change replaces the token (at once,
and again when its transaction commits), so the next read misses and rebuilds: nothing has
to find and delete old entries, which simply age out.

Every app server must see a new token at once, or a worker would go on serving what
another worker just changed:

- With a shared cache (REDIS_URL), the token lives in that cache: one read per use.
- With the per-process local-memory cache, the token is a small file's identity (inode
  and modification time, set to a strictly later nanosecond on each change) in the
  temporary directory, one file per database. Every worker on the machine reads it with
  one `stat` (microseconds), so a change made through one worker is seen by all the
  others on their next request. Several machines without a shared cache cannot see each
  other's changes: set REDIS_URL as soon as there is more than one (the README says so).

The window this leaves: a reader between a change's commit and the token's replacement
(microseconds, the same thread carries on at once) may still get the old entry. Anything
that must be exact, such as whether a time is still free when it is booked (the
appointments and time off around it), is checked against the database, never the cache.
"""

import hashlib
import os
import secrets
import tempfile
import time
from functools import cache as memoize
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connections, transaction

PAGES = "pages"
AVAILABILITY = "availability"
CLINIC = "clinic"
# The services and practitioners offered online: apart from AVAILABILITY, which every
# booking replaces, so that a stream of bookings does not make each request re-read them.
OFFERED = "offered"
# Who works when and the clinic's closures: what a booking's check need not read each time.
SCHEDULE = "schedule"


def _is_shared_cache():
    backend = settings.CACHES["default"]["BACKEND"]
    return not backend.endswith("LocMemCache")


@memoize
def _stamp_directory(database_key):
    digest = hashlib.sha256(database_key.encode()).hexdigest()[:16]
    directory = Path(tempfile.gettempdir()) / f"clinic-cache-{digest}"
    directory.mkdir(mode=0o700, exist_ok=True)
    return directory


def _stamp(name):
    """The file whose identity is the token of `name`, one directory per database."""
    connection = connections["default"]
    database = connection.settings_dict
    parts = [str(settings.BASE_DIR), database["ENGINE"], str(database["NAME"])]
    parts += [str(database.get("HOST") or ""), str(database.get("PORT") or "")]
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        # An in-memory database (the tests') belongs to one process: so do its tokens.
        parts.append(str(os.getpid()))
    return _stamp_directory("|".join(parts)) / name


def current(name):
    """The token of `name` now: part of the cache key of anything built from it."""
    if _is_shared_cache():
        key = f"generation:{name}"
        token = cache.get(key)
        if token is None:
            cache.add(key, secrets.token_hex(8), timeout=None)
            token = cache.get(key)
        return token
    path = _stamp(name)
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        bump(name)
        stat = os.stat(path)
    return f"{stat.st_ino}.{stat.st_mtime_ns}"


def bump(name):
    """Replace the token of `name` now: whatever was cached from it is stale."""
    if _is_shared_cache():
        cache.set(f"generation:{name}", secrets.token_hex(8), timeout=None)
        return
    path = _stamp(name)
    try:
        previous = os.stat(path).st_mtime_ns
    except FileNotFoundError:
        path.touch()
        previous = 0
    # Set, not left to the clock: strictly later than before, even within one clock tick.
    stamp = max(time.time_ns(), previous + 1)
    os.utime(path, ns=(stamp, stamp))


def changed(*names, using=None):
    """Replace these tokens now, and again once the current transaction commits.

    Now, so that the rest of this transaction (and a test, which never commits) reads
    afresh; after the commit, because another worker may have rebuilt and cached the old
    state in between, under the token of the first replacement.
    """
    for name in names:
        bump(name)

    def replace():
        for name in names:
            bump(name)

    transaction.on_commit(replace, using=using)


# What each generation is built from: a saved or deleted row of these models replaces the
# tokens named, when its transaction commits. The one place that says what makes what stale.
SOURCES = {
    "articles.Article": (PAGES,),
    "articles.Topic": (PAGES,),
    "articles.Reference": (PAGES,),
    "booking.Clinic": (CLINIC, PAGES, AVAILABILITY),
    "booking.Service": (PAGES, AVAILABILITY, OFFERED),
    # Pages: the home page's structured data gives the hours practitioners work.
    "booking.Practitioner": (PAGES, AVAILABILITY, OFFERED, SCHEDULE),
    "booking.WorkingHours": (PAGES, AVAILABILITY, OFFERED, SCHEDULE),
    "booking.TimeOff": (AVAILABILITY,),
    "booking.ClinicClosure": (AVAILABILITY, SCHEDULE),
    "booking.Appointment": (AVAILABILITY,),
}
# Many-to-many links, which change without saving either side.
LINK_SOURCES = {"articles.Article_topics": (PAGES,)}


def connect_signals():
    """Connect SOURCES to the model signals (from an AppConfig's ready())."""
    from django.db.models.signals import m2m_changed, post_delete, post_save

    def receiver_for(names):
        def on_change(sender, using=None, **kwargs):
            changed(*names, using=using)

        return on_change

    for label, names in SOURCES.items():
        receiver = receiver_for(names)
        for signal in (post_save, post_delete):
            signal.connect(receiver, sender=label, weak=False, dispatch_uid=f"generation:{label}")
    for label, names in LINK_SOURCES.items():
        m2m_changed.connect(
            receiver_for(names), sender=label, weak=False, dispatch_uid=f"generation:{label}"
        )
