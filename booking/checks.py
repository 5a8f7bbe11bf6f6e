"""System checks: a bad setting stops `manage.py check`, `migrate` and runserver at startup.

The booking rates are parsed only when a complete request arrives, so without this check a
typo ("10/hour") or a zero ("5/0h") would pass every startup and then turn each patient's
request into a 500.
"""

from django.conf import settings
from django.core import checks

from booking.throttle import RATE_SETTINGS, parse_rate


@checks.register()
def check_booking_rates(app_configs=None, **kwargs):
    """booking.E001: CLINIC_BOOKING_RATE and CLINIC_BOOKING_EMAIL_RATE are rates."""
    errors = []
    for name in RATE_SETTINGS:
        value = getattr(settings, name, None)
        try:
            parse_rate(value)
        except ValueError as error:
            errors.append(
                checks.Error(
                    f"{name}: {error}",
                    hint=(
                        f"Set {name} to a count per window, each at least 1: 5/h (five an "
                        "hour), 3/d (three a day) or 10/15m (ten per fifteen minutes); the "
                        "window's unit is s, m, h or d."
                    ),
                    id="booking.E001",
                )
            )
    return errors


@checks.register(checks.Tags.security, deploy=True)
def check_limits_are_shared(app_configs=None, **kwargs):
    """booking.W001 (check --deploy): the rate limits' counters are in a shared cache.

    Without REDIS_URL the cache is each process's own memory, and gunicorn runs several
    worker processes: each would count on its own, so "5/h" lets through 5 per worker.
    """
    backend = settings.CACHES["default"]["BACKEND"]
    if backend != "django.core.cache.backends.locmem.LocMemCache":
        return []
    return [
        checks.Warning(
            "The booking form's rate limits are counted in each worker process's own memory, "
            "so every worker allows the whole limit (5/h from one address becomes 5/h per "
            "worker).",
            hint="Set REDIS_URL to a Redis server every worker and app server reaches.",
            id="booking.W001",
        )
    ]
