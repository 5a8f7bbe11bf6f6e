"""The fault harness reads what the site says: its links, its answers and its pages."""

import time
from datetime import timedelta
from unittest import mock

from django.db import OperationalError
from django.db.backends.utils import CursorWrapper
from django.test import Client
from django.utils import timezone

from bench import faults
from booking.forms import issue_form_token
from booking.models import Appointment
from tests.booking.conftest import local, next_weekday


def test_the_harness_finds_the_appointment_in_a_patients_link(make_appointment):
    appointment = make_appointment(timezone.now() + timedelta(days=3))
    assert faults.requested_id(appointment.patient_url) == appointment.pk


def test_the_words_the_harness_looks_for_are_on_the_sites_pages(
    client, service, practitioner, make_appointment
):
    slot = local(next_weekday(0), 10)
    make_appointment(slot)
    taken = client.post(
        "/book/",
        {
            "service": service.slug,
            "practitioner": practitioner.slug,
            "slot": slot.isoformat(),
            "first_name": "Robin",
            "last_name": "Bench",
            "email": "robin@example.com",
            "phone": "+1 212 555 0100",
            "concern": "sciatica",
            "consent": "on",
            "form_token": issue_form_token(time.time() - 10),
        },
    )
    assert taken.status_code == 200
    assert faults.TAKEN in taken.content.decode()
    assert Appointment.objects.count() == 1

    with mock.patch.object(CursorWrapper, "_execute", side_effect=OperationalError("down")):
        down = Client(raise_request_exception=False).get("/book/")
    assert down.status_code == 503
    assert faults.FRIENDLY_503 in down.content.decode().lower()


def test_the_report_is_written_between_its_markers_and_keeps_the_rest(tmp_path):
    doc = tmp_path / "RELIABILITY.md"
    doc.write_text(
        f"# Reliability\n\nWhy it holds.\n\n{faults.BEGIN}\nlast run\n{faults.END}\nAfter.\n"
    )
    report = faults.Report()
    report.check("s", "exactly one appointment stored", True, "1")
    report.check("s", "no 5xx", False, "2 5xx")
    results = {
        "date": "2026-11-26 12:00 UTC",
        "command": "make faults",
        "elapsed_s": 90.0,
        "machine": {
            "cpu": "cpu",
            "nproc": 2,
            "memory_gb": 4,
            "os": "Debian",
            "kernel": "6",
        },
        "versions": {"Django": "6.1.3"},
        "report": report,
    }

    faults.write(doc, results)

    text = doc.read_text()
    assert text.startswith("# Reliability\n\nWhy it holds.")
    assert text.endswith("After.\n")
    assert "last run" not in text
    assert "| pass | exactly one appointment stored | 1 |" in text
    assert "| **FAIL** | no 5xx | 2 5xx |" in text
    assert "**FAILED**" in text
