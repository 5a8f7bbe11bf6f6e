"""A real SMTP server (aiosmtpd) on loopback, and helpers to book through the workflow.

The mail settings point Django at the server's port; `smtp` starts it, `smtp_down` leaves
the port closed (connection refused) until the test calls `.start()`.
"""

import email
import socket
import threading
import time
from datetime import datetime, timedelta
from email import policy
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from booking.forms import issue_form_token
from booking.models import Appointment
from tests.conftest import ADA_TYPES

NY = ZoneInfo("America/New_York")


class SMTPServer:
    """An SMTP server that keeps every message it accepts, parsed."""

    def __init__(self, port):
        self.port = port
        self.envelopes = []
        self.delay = 0.0
        self.refused = set()
        # Cleared, the server takes a message but answers only once it is set again.
        self.answering = threading.Event()
        self.answering.set()
        # Set once a message has reached the server (answered or not).
        self.receiving = threading.Event()
        self._sessions = []
        self._lock = threading.Lock()
        self._controller = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.receiving.set()
        if self.delay:
            time.sleep(self.delay)  # a slow server, so that concurrent senders overlap
        self.answering.wait(30)
        with self._lock:
            self.envelopes.append(envelope)
            if not any(seen is session for seen in self._sessions):
                self._sessions.append(session)
        return "250 Message accepted for delivery"

    def start(self):
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self):
        self.answering.set()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def connections(self):
        """How many connections brought the messages (aiosmtpd's session is per connection)."""
        return len(self._sessions)

    @property
    def messages(self):
        return [email.message_from_bytes(e.content, policy=policy.default) for e in self.envelopes]

    def messages_to(self, address):
        return [m for m in self.messages if m["To"] == address]

    def only_message(self, **headers):
        matching = [
            m for m in self.messages if all(str(m[name]) == v for name, v in headers.items())
        ]
        assert len(matching) == 1, [m["Subject"] for m in self.messages]
        return matching[0]


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_down(settings):
    """The mail settings point at a loopback port where nothing listens, yet."""
    server = SMTPServer(_free_port())
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": server.port, "timeout": 5},
        }
    }
    settings.DEFAULT_FROM_EMAIL = "appointments@clinic.test"
    settings.CLINIC_NOTIFY_EMAIL = "front-desk@clinic.test"
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_down):
    """A running SMTP server on loopback that the site sends through."""
    smtp_down.start()
    return smtp_down


@pytest.fixture
def staff(admin_user):
    return admin_user


def next_monday_at(hour, minute=0, weeks_ahead=2):
    today = datetime.now(NY).date()
    monday = today + timedelta(days=(7 - today.weekday()) + 7 * (weeks_ahead - 1))
    return datetime(monday.year, monday.month, monday.day, hour, minute, tzinfo=NY)


@pytest.fixture
def request_form(service, practitioner):
    """What a patient sends from /book/ for a Monday at 10:00."""

    def form(**fields):
        return {
            "service": service.slug,
            "practitioner": practitioner.slug,
            "slot": next_monday_at(10).isoformat(),
            **ADA_TYPES,
            "form_token": issue_form_token(time.time() - 10),
            **fields,
        }

    return form


@pytest.fixture
def book(make_appointment, django_capture_on_commit_callbacks):
    """Book as the site does, and run what happens after the commit (the first send)."""

    def book(start=None, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            return make_appointment(start or next_monday_at(10), **fields)

    return book


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Run a workflow step and what happens after its commit: `after_commit(a.confirm, by=u)`."""

    def run(step, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return step(*args, **kwargs)

    return run


@pytest.fixture
def confirmed(book, after_commit, staff):
    """A confirmed appointment, two weeks ahead."""

    def make(start=None, **fields):
        appointment = book(start, **fields)
        after_commit(appointment.confirm, by=staff)
        return Appointment.objects.get(pk=appointment.pk)

    return make


@pytest.fixture
def postgresql(db):
    """Skip on SQLite: the test is about PostgreSQL's row locking under concurrency."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgres://...): concurrency")
