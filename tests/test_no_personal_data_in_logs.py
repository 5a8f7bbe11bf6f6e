"""No patient's name, email, phone or message, and no password, ever reaches a log."""

import logging
import re
import socket
import time

import pytest
from django.test import Client

from booking.forms import issue_form_token
from booking.models import Appointment, OutgoingEmail
from tests.booking.conftest import local, next_weekday

# Distinctive, so that any appearance in a log is a leak and not a coincidence.
PATIENT = {
    "first_name": "Quillon",
    "last_name": "Verbrugghe-Ashdown",
    "email": "quillon.verbrugghe@patients.example.org",
    "phone": "(212) 555-0187",
    "message": "Stabbing ache behind the left shoulder blade since the regatta",
}
PASSWORD = "Marmalade-Periscope-4471"
SECRETS = [
    *PATIENT.values(),
    "Verbrugghe",
    "quillon.verbrugghe",
    "+12125550187",  # the phone as stored
    "2125550187",
    "555-0187",
    "regatta",
    PASSWORD,
]


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def every_log_record(caplog):
    """Every record of every logger at DEBUG, propagating or not (django, booking, axes…)."""
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for name in ("django.request", "django.security", "axes", "axes.watch_login", "booking"):
        logger = logging.getLogger(name)
        if logger not in loggers:
            loggers.append(logger)
    saved = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        if not logger.propagate and caplog.handler not in logger.handlers:
            logger.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.DEBUG)
    yield caplog
    for logger, level in saved:
        logger.setLevel(level)
        if caplog.handler in logger.handlers:
            logger.removeHandler(caplog.handler)


def all_log_text(caplog, capfd):
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = []
    for record in caplog.records:
        lines.append(formatter.format(record))  # with the traceback, if any
    out, err = capfd.readouterr()  # whatever the console handlers wrote
    return "\n".join(lines) + out + err


@pytest.fixture
def mail_server_down(settings):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": closed_port(), "timeout": 2},
        }
    }


def test_a_full_booking_flow_logs_no_personal_data(
    every_log_record,
    capfd,
    clinic,
    service,
    practitioner,
    admin_client,
    mail_server_down,
    django_capture_on_commit_callbacks,
):
    patient = Client(raise_request_exception=False)
    monday = next_weekday(0)

    def request_form(hour, **fields):
        return {
            "service": service.slug,
            "practitioner": practitioner.slug,
            "slot": local(monday, hour).isoformat(),
            "is_new_patient": "True",
            "concern": "sciatica",
            "consent": "on",
            "form_token": issue_form_token(time.time() - 10),
            **PATIENT,
            **fields,
        }

    # A booking (its emails fail: the mail server is down) and a cancel through the link.
    with django_capture_on_commit_callbacks(execute=True):
        booked = patient.post("/book/", request_form(10))
    assert booked.status_code == 302
    page = booked.url
    assert patient.get(page).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert patient.post(page + "cancel/", {"confirm": "yes"}).status_code == 302
    assert Appointment.objects.get().status == "cancelled"

    # A second request, refused once for a bad phone (the form shown again), then confirmed
    # by staff from the admin list.
    refused = patient.post("/book/", request_form(14, phone=PATIENT["first_name"]))
    assert refused.status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert patient.post("/book/", request_form(14)).status_code == 302
    second = Appointment.objects.get(status="requested")
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = admin_client.post(
            "/admin/booking/appointment/",
            {"action": "confirm", "_selected_action": [second.pk]},
        )
    assert confirmed.status_code == 302
    second.refresh_from_db()
    assert second.status == "confirmed"

    # Every email failed and waits for a retry: the failures were logged, as types only.
    assert OutgoingEmail.objects.filter(status="pending").count() >= 4
    assert not OutgoingEmail.objects.filter(status="sent").exists()

    # A failed sign-in to the admin (django-axes), with the patient's email as the user name.
    for _ in range(2):
        signed_in = patient.post(
            "/admin/login/?next=/admin/",
            {"username": PATIENT["email"], "password": PASSWORD, "next": "/admin/"},
        )
        assert signed_in.status_code == 200

    text = all_log_text(every_log_record, capfd)
    # The flow did log, so the capture works: the email failures and axes' failure notice.
    assert re.search(r"Email \d+ \(request_received\) not sent", text)
    assert "AXES" in text
    for secret in SECRETS:
        leaks = [line[:300] for line in text.splitlines() if secret.lower() in line.lower()]
        assert not leaks, f"{secret!r} appears in the logs"
