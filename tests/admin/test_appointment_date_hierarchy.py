"""The appointment list's date drill-down: years, then months, then days, then the rows.

Years and months come from the first and last appointment, so that the list costs the
same with two years of history as with a week's (tests/admin/test_admin_query_counts.py).
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.urls import reverse

from booking.models import Appointment

LIST = reverse("admin:booking_appointment_changelist")
NY = ZoneInfo("America/New_York")


def past(service, practitioner, when, status="completed"):
    return Appointment.objects.create(
        service=service,
        practitioner=practitioner,
        start=when,
        end=when + timedelta(minutes=75),
        status=status,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone="+12125550123",
    )


def test_drilling_down_by_year_month_and_day(front_desk_client, service, practitioner):
    oldest = past(service, practitioner, datetime(2024, 11, 4, 10, tzinfo=NY))
    middle = past(service, practitioner, datetime(2025, 3, 10, 9, tzinfo=NY))
    newest = past(service, practitioner, datetime(2026, 2, 2, 15, tzinfo=NY))
    html = front_desk_client.get(LIST).text
    for year in ("2024", "2025", "2026"):
        assert f"?start__year={year}" in html
    months = front_desk_client.get(LIST, {"start__year": 2024}).text
    assert "start__month=11" in months
    assert "start__month=10" not in months  # before the first appointment
    past(service, practitioner, datetime(2025, 1, 6, 9, tzinfo=NY))
    months = front_desk_client.get(LIST, {"start__year": 2025}).text
    assert all(f"start__month={month}" in months for month in (1, 2, 3))
    days = front_desk_client.get(LIST, {"start__year": 2025, "start__month": 3}).text
    assert "start__day=10" in days
    rows = front_desk_client.get(
        LIST, {"start__year": 2025, "start__month": 3, "start__day": 10}
    ).text
    assert middle.reference in rows
    assert oldest.reference not in rows and newest.reference not in rows
