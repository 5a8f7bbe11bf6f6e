"""Times as patients read them on the booking page, written out without Django's dateformat."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils.dateformat import format as format_date

from booking.availability import Slot
from booking.forms import slot_label


@pytest.mark.parametrize(
    "first_day",
    [datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 10, 31, tzinfo=UTC)],  # both clock changes
)
def test_labels_read_exactly_as_django_would_write_them(first_day):
    for quarter in range(3 * 24 * 4):  # three days, every 15 minutes, midnight and noon too
        slot = Slot(first_day + timedelta(minutes=15 * quarter), first_day, practitioner=None)
        assert slot_label(slot) == format_date(slot.local_start, "D, M j, g:i A")
        assert slot_label(slot, with_day=False) == format_date(slot.local_start, "g:i A")


def test_a_label_is_in_the_clinics_time():
    slot = Slot(datetime(2026, 11, 30, 14, 15, tzinfo=UTC), None, practitioner=None)
    assert slot_label(slot) == "Mon, Nov 30, 9:15 AM"  # New York is UTC-5 in winter
    assert slot_label(slot, with_day=False) == "9:15 AM"
