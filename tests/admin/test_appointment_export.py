"""CSV export of the appointment list: the filtered rows, safe to open in a spreadsheet."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from booking.admin import spreadsheet_safe

EXPORT = reverse("admin:booking_appointment_export")


def rows_of(response):
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="appointments-')
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")  # so spreadsheet programs read accents right
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def test_export_has_one_row_per_appointment_in_clinic_time(front_desk_client, request_at, monday):
    appointment = request_at(9, 30, first_name="José", last_name="Núñez")
    (row,) = rows_of(front_desk_client.get(EXPORT))
    assert row["Reference"] == appointment.reference
    assert row["Status"] == "Requested"
    assert row["Date"] == monday.isoformat()
    assert (row["Start"], row["End"]) == ("09:30", "10:45")
    assert (row["First name"], row["Last name"]) == ("José", "Núñez")
    assert row["Practitioner"] == "Maya Chen, L.Ac."
    assert row["Concern"] == "Sciatica"


def test_export_has_cancelled_and_declined_visits_with_when_and_from_where(
    front_desk_client, request_at, published_article
):
    """For a month's report: what was cancelled or declined and when, and what brought
    each patient (the article they booked from)."""
    cancelled = request_at(9, source_article=published_article)
    cancelled.cancel(note="Patient called")
    declined = request_at(11)
    declined.decline()
    kept = request_at(14)
    rows = {row["Reference"]: row for row in rows_of(front_desk_client.get(EXPORT))}
    assert set(rows) == {cancelled.reference, declined.reference, kept.reference}
    assert rows[cancelled.reference]["Status"] == "Cancelled"
    assert rows[declined.reference]["Status"] == "Declined"
    today = timezone.localdate().isoformat()
    assert rows[cancelled.reference]["Status since"].startswith(today)
    assert rows[cancelled.reference]["From article"] == published_article.title
    assert rows[declined.reference]["From article"] == ""
    only_cancelled = rows_of(front_desk_client.get(EXPORT, {"status__exact": "cancelled"}))
    assert [row["Reference"] for row in only_cancelled] == [cancelled.reference]


def test_export_keeps_the_lists_filters_and_search(front_desk_client, request_at):
    kept = request_at(9, last_name="Hopper")
    confirmed = request_at(11, last_name="Hopper")
    confirmed.confirm()
    request_at(13, last_name="Turing")
    rows = rows_of(front_desk_client.get(EXPORT, {"q": "hopper", "status__exact": "requested"}))
    assert [row["Reference"] for row in rows] == [kept.reference]


def test_export_button_carries_the_current_filters(front_desk_client, db):
    html = front_desk_client.get(
        reverse("admin:booking_appointment_changelist"), {"when": "today", "q": "ada"}
    ).text
    assert f'href="{EXPORT}?when=today&amp;q=ada"' in html


def test_export_of_a_practitioner_is_refused(practitioner_client, request_at):
    request_at(9)
    assert practitioner_client.get(EXPORT).status_code == 403


def test_export_selected_action(front_desk_client, request_at, run_action):
    chosen, _other = request_at(9), request_at(11)
    rows = rows_of(run_action(front_desk_client, "export_selected", [chosen]))
    assert [row["Reference"] for row in rows] == [chosen.reference]


@pytest.mark.parametrize(
    "dangerous",
    [
        '=HYPERLINK("http://evil.example","Click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_every_cell_that_a_spreadsheet_would_run_is_neutralised(
    front_desk_client, request_at, dangerous
):
    request_at(9, first_name=dangerous, last_name=dangerous, email="x@example.com")
    (row,) = rows_of(front_desk_client.get(EXPORT))
    assert row["First name"] == "'" + dangerous
    assert row["Last name"] == "'" + dangerous
    # The phone number is stored as +1…: it is neutralised too.
    assert row["Phone"] == "'+12125550123"
    for value in row.values():
        assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_ordinary_text_is_left_alone():
    assert spreadsheet_safe("Ada") == "Ada"
    assert spreadsheet_safe("a=b") == "a=b"
    assert spreadsheet_safe("") == ""
