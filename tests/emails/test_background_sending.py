"""The worker's email thread: the patient's page never waits for the mail server.

In production (CLINIC_EMAILS_IN_BACKGROUND, on by default) a booking's emails are handed
to a thread of the worker once the response has gone out. These tests run it for real,
with its own database connection, so they need committed rows (transaction=True), and
put back what the migrations made once they have emptied the tables (serialized_rollback),
as every test here that commits must for the tests after it.
"""

import threading
import time
from contextlib import contextmanager

import pytest
from django.core.signals import request_started
from django.db import connection
from django.urls import reverse

from booking import emails
from booking.models import Appointment, OutgoingEmail

from .conftest import next_monday_at

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def in_background(settings):
    settings.CLINIC_EMAILS_IN_BACKGROUND = True
    yield emails.background_sender
    emails.background_sender.stop()


def statuses():
    return dict(OutgoingEmail.objects.values_list("kind", "status"))


def test_the_patient_has_their_page_while_the_mail_server_is_still_answering(
    in_background, smtp, client, request_form
):
    smtp.answering.clear()  # the server takes the first message and says nothing yet
    response = client.post(reverse("booking:request"), request_form())
    # Read once the thread is waiting on the server: the test database is SQLite's shared
    # in-memory one, where a read at the moment the thread claims its rows makes one of
    # them fail at once ("table is locked"), which a database file never does.
    assert smtp.receiving.wait(10)
    appointment = Appointment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == appointment.patient_url
    assert smtp.messages == []
    assert set(statuses().values()) <= {"pending", "sending"}

    smtp.answering.set()
    in_background.stop()  # as at a worker's exit: what is queued goes out first
    assert statuses() == {"request_received": "sent", "staff_new_request": "sent"}
    assert len(smtp.messages_to("ada@example.com")) == 1
    assert len(smtp.messages_to("front-desk@clinic.test")) == 1


def test_bookings_made_while_the_thread_is_busy_go_out_together(
    in_background, smtp, client, request_form
):
    """A burst of bookings costs one database read and one mail connection, not one each."""
    smtp.answering.clear()
    client.post(reverse("booking:request"), request_form())
    assert smtp.receiving.wait(10)  # the thread is sending the first booking's emails
    for hour, address in ((11, "bo@example.com"), (14, "cy@example.com")):
        slot = next_monday_at(hour, 15).isoformat()
        response = client.post(reverse("booking:request"), request_form(slot=slot, email=address))
        assert response.status_code == 302

    smtp.answering.set()
    in_background.stop()
    assert set(OutgoingEmail.objects.values_list("status", flat=True)) == {"sent"}
    assert OutgoingEmail.objects.count() == 6
    for address in ("ada@example.com", "bo@example.com", "cy@example.com"):
        assert len(smtp.messages_to(address)) == 1
    assert smtp.connections == 2  # the first booking's, then the two that queued meanwhile


def test_the_thread_leaves_no_database_session_behind(in_background, smtp, client, request_form):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: counts the server's sessions (pg_stat_activity)")

    def other_sessions():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]

    before = other_sessions()
    client.post(reverse("booking:request"), request_form())
    in_background.stop()  # a worker's exit
    assert statuses() == {"request_received": "sent", "staff_new_request": "sent"}
    assert other_sessions() == before


def test_a_mail_server_outage_leaves_the_thread_ready_for_the_next_booking(
    in_background, smtp_down, client, request_form
):
    client.post(reverse("booking:request"), request_form())
    in_background.stop()
    first = Appointment.objects.get()
    assert set(first.emails.values_list("status", flat=True)) == {"pending"}  # retried later

    smtp_down.start()
    later = next_monday_at(14).isoformat()
    client.post(reverse("booking:request"), request_form(slot=later, email="bo@example.com"))
    in_background.stop()
    second = Appointment.objects.exclude(pk=first.pk).get()
    assert set(second.emails.values_list("status", flat=True)) == {"sent"}
    assert len(smtp_down.messages_to("bo@example.com")) == 1
    # The first booking's emails wait for send_pending_emails and its backoff.
    assert set(first.emails.values_list("status", flat=True)) == {"pending"}


def test_emails_go_out_in_the_request_when_the_thread_is_off(settings, smtp, client, request_form):
    settings.CLINIC_EMAILS_IN_BACKGROUND = False
    client.post(reverse("booking:request"), request_form())
    assert statuses() == {"request_received": "sent", "staff_new_request": "sent"}
    assert emails.background_sender._thread is None


@contextmanager
def another_request_in_progress():
    """As while another thread of the process serves someone (a slow page, say)."""
    began, done = threading.Event(), threading.Event()

    def serve():
        emails.background_sender.request_began()
        began.set()
        done.wait(30)
        emails.background_sender.request_ended()

    thread = threading.Thread(target=serve)
    thread.start()
    began.wait(5)
    try:
        yield
    finally:
        done.set()
        thread.join(5)


def test_emails_wait_while_the_worker_is_serving_patients(
    in_background, smtp, client, request_form
):
    """In a burst of visitors the worker answers them first; the emails follow the burst."""
    with another_request_in_progress():
        response = client.post(reverse("booking:request"), request_form())
        assert response.status_code == 302
        assert not smtp.receiving.wait(0.5)
        assert set(statuses().values()) == {"pending"}
    # The worker has a moment: the emails go out without anyone stopping the thread.
    assert smtp.receiving.wait(5)
    in_background.stop()
    assert statuses() == {"request_received": "sent", "staff_new_request": "sent"}


def test_emails_go_out_even_if_the_worker_never_pauses(
    in_background, smtp, client, request_form, monkeypatch
):
    monkeypatch.setattr(emails.BackgroundSender, "LONGEST_WAIT", 0.3)
    with another_request_in_progress():
        client.post(reverse("booking:request"), request_form())
        assert smtp.receiving.wait(5)
        in_background.stop()
    assert statuses() == {"request_received": "sent", "staff_new_request": "sent"}


def test_a_worker_that_exits_sends_what_waits_without_waiting_for_a_pause(
    in_background, smtp, client, request_form
):
    with another_request_in_progress():
        client.post(reverse("booking:request"), request_form())
        started = time.monotonic()
        in_background.stop()
        assert time.monotonic() - started < emails.BackgroundSender.LONGEST_WAIT
        assert statuses() == {"request_received": "sent", "staff_new_request": "sent"}


def test_the_thread_knows_when_the_worker_is_serving_a_request(client, db):
    seen = []

    def while_serving(**kwargs):
        seen.append(emails.background_sender.serving)

    # Connected after the booking app's receiver, so it runs once the request is counted.
    request_started.connect(while_serving)
    try:
        client.get("/robots.txt")
    finally:
        request_started.disconnect(while_serving)
    assert seen == [1]
    assert emails.background_sender.serving == 0


def test_a_request_that_never_said_it_ended_holds_no_email_back(
    in_background, smtp, client, request_form
):
    """A request cut short by an exception, whose thread then serves the next one."""
    emails.background_sender.request_began()  # and never request_ended, in this thread
    client.post(reverse("booking:request"), request_form())
    assert smtp.receiving.wait(5)
    in_background.stop()
    assert statuses() == {"request_received": "sent", "staff_new_request": "sent"}
