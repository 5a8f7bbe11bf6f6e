"""No patient's name, email, phone or message, and no password, ever reaches a log."""

import http.client
import io
import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from unittest.mock import patch

import pytest
from django.test import Client

from booking.forms import issue_form_token
from booking.models import Appointment, OutgoingEmail
from tests.booking.conftest import local, next_weekday

ROOT = Path(__file__).resolve().parent.parent

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


# A patient's link (/book/request/<token>/) is the key to their request: whoever has it sees
# the request and can cancel it. Logs are read by more people, and kept longer, than that.


@pytest.fixture
def console_log():
    """What the site's own log handler writes (settings.LOGGING's console), as text."""
    handler = next(
        handler
        for handler in logging.getLogger("django").handlers
        if handler.get_name() == "console"
    )
    written = io.StringIO()
    previous = handler.setStream(written)
    yield written
    handler.setStream(previous)


def test_a_patients_link_never_reaches_the_log(console_log, make_appointment):
    appointment = make_appointment(local(next_weekday(0), 10), first_name="Quillon")
    page, token = appointment.patient_url, appointment.token
    patient = Client(enforce_csrf_checks=True, raise_request_exception=False)

    # A server error on the patient's page: logged, with its traceback.
    with patch("booking.views.render", side_effect=RuntimeError(f"broken at {page}")):
        assert patient.get(page).status_code == 500
    # A cancel sent without its CSRF token (an old tab, a blocked cookie): refused, logged.
    assert patient.post(page + "cancel/", {"confirm": "yes"}).status_code == 403
    # The link of a request purged since: not found, logged.
    appointment.delete()
    assert patient.get(page).status_code == 404

    text = console_log.getvalue()
    # Each was logged, with the path's shape left for whoever reads it.
    assert "Forbidden (" in text and "/book/request/[token]/cancel/" in text
    assert "Not Found: /book/request/[token]/" in text
    assert "Internal Server Error: /book/request/[token]/" in text
    assert "RuntimeError: broken at /book/request/[token]/" in text
    assert token not in text
    assert token.rpartition(":")[2] not in text  # not even its signature


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_gunicorns_access_log_leaves_a_patients_link_out(tmp_path):
    """The site as deployed (gunicorn.conf.py) logs each request's path, but never a token."""
    token = Appointment(pk=4, reference="QK7M2XPD").token  # a request since purged
    port = free_port()
    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }
    manage = [sys.executable, "manage.py", "migrate", "--noinput"]
    subprocess.run(manage, cwd=ROOT, env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "clinic.wsgi"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    page = f"/book/request/{token}/"

    def status(method, path):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request(method, path, body=b"confirm=yes" if method == "POST" else None)
            return connection.getresponse().status
        finally:
            connection.close()

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert status("GET", page) == 404
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.2)
        assert status("POST", page + "cancel/") == 403  # no CSRF token
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert '"GET /book/request/[token]/" 404' in output  # the access log
    assert '"POST /book/request/[token]/cancel/" 403' in output
    assert "Not Found: /book/request/[token]/" in output  # Django's own log
    assert token not in output
    assert token.rpartition(":")[2] not in output
