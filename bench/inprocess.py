"""Inside Django, on one benchmark database: availability timing and each page's queries.

Run by bench/run.py with DATABASE_URL and BENCH_PAGES (a JSON {key: path}) set; prints
one JSON line. Pages are requested through Django's test client twice (the second one
shows what a warm cache costs); the availability function is timed for a 60-day horizon
and every active practitioner, with the cache cleared before each call (but for the
clinic's record, which a running site always has cached).
"""

import inspect
import json
import os
import statistics
import sys
import time
import timeit
from datetime import timedelta

HORIZON_DAYS = 60
# Fewer in the short (CI) mode, where only that it works matters.
TIMING_RUNS = int(os.environ.get("BENCH_TIMING_RUNS", "7"))


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    import django

    django.setup()


def count_queries(function):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = function()
        seconds = time.perf_counter() - started
    return result, len(queries), seconds


def page_queries(pages):
    from django.contrib.auth import get_user_model
    from django.core.cache import caches
    from django.test import Client

    from bench.data import ADMIN_USERNAME

    for cache in caches.all():
        cache.clear()
    anonymous = Client(raise_request_exception=False)
    staff = Client(raise_request_exception=False)
    admin = get_user_model().objects.filter(username=ADMIN_USERNAME).first()
    if admin:
        staff.force_login(admin)
    found = {}
    for key, path in pages.items():
        if not path:
            continue
        client = staff if key == "admin" else anonymous
        row = {}
        for attempt in ("first", "repeat"):
            response, queries, seconds = count_queries(lambda: client.get(path, secure=True))  # noqa: B023
            row[attempt] = {"status": response.status_code, "queries": queries}
        times = []
        for _ in range(min(5, TIMING_RUNS)):
            started = time.perf_counter()
            client.get(path, secure=True)
            times.append(time.perf_counter() - started)
        row["median_ms"] = statistics.median(times) * 1000
        found[key] = row
    return found


def availability_call():
    """A zero-argument call of the open-slots function for 60 days and every practitioner.

    Adapts to the function's signature (it is written by another part of the project);
    returns (call, description) or (None, reason).
    """
    try:
        from booking import availability
    except ImportError as error:
        return None, f"booking/availability.py cannot be imported ({error})"
    function = getattr(availability, "open_slots", None)
    if function is None:
        candidates = [
            name
            for name, value in vars(availability).items()
            if inspect.isfunction(value) and "slot" in name and not name.startswith("_")
        ]
        if not candidates:
            return None, "booking/availability.py has no open_slots() function"
        function = getattr(availability, candidates[0])
    from django.utils import timezone

    from booking.models import Practitioner, Service

    service = Service.objects.active().order_by("duration_minutes").first()
    practitioners = list(Practitioner.objects.active())
    now = timezone.now()
    today = timezone.localdate(now)
    values = {
        "first_day": today,
        "last_day": today + timedelta(days=HORIZON_DAYS),
        "service": service,
        "services": [service],
        "practitioner": None,
        "practitioners": practitioners,
        "start": now,
        "start_at": now,
        "since": now,
        "now": now,
        "end": now + timedelta(days=HORIZON_DAYS),
        "until": now + timedelta(days=HORIZON_DAYS),
        "end_at": now + timedelta(days=HORIZON_DAYS),
        "days": HORIZON_DAYS,
        "horizon": timedelta(days=HORIZON_DAYS),
        "horizon_days": HORIZON_DAYS,
    }
    kwargs = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name in values:
            kwargs[name] = values[name]
        elif parameter.default is parameter.empty:
            return None, f"{function.__name__}() needs {name!r}, which the bench cannot supply"
    description = f"{function.__name__}({', '.join(kwargs)}), service {service.name!r}"
    return (lambda: list(function(**kwargs))), description


def time_availability():
    from django.core.cache import caches

    call, description = availability_call()
    if call is None:
        return {"status": description}
    from booking.models import Clinic

    def fresh():
        # Nothing computed earlier is reused; the clinic's record is cached, as on a live site.
        for cache in caches.all():
            cache.clear()
        Clinic.load()

    fresh()
    slots, queries, first_seconds = count_queries(call)
    runs = timeit.repeat(call, setup=fresh, number=1, repeat=TIMING_RUNS)
    return {
        "call": description,
        "slots": len(slots),
        "queries": queries,
        "first_ms": first_seconds * 1000,
        "median_ms": statistics.median(runs) * 1000,
        "min_ms": min(runs) * 1000,
        "runs": TIMING_RUNS,
    }


def main():
    setup_django()
    pages = json.loads(os.environ.get("BENCH_PAGES", "{}"))
    result = {"availability": time_availability(), "pages": page_queries(pages)}
    json.dump(result, sys.stdout, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
