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
