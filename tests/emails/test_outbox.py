"""The outbox: written with the change, sent after the commit, retried, sent at most once."""

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from booking import emails
from booking.models import Appointment, OutgoingEmail

from .conftest import next_monday_at

Status = OutgoingEmail.Status


def run_command(name, *args):
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def time_passes(delta):
    """As if `delta` went by: every retry falls due that much sooner."""
    OutgoingEmail.objects.update(next_attempt_at=F("next_attempt_at") - delta)


def test_emails_are_written_with_the_booking_and_sent_after_it_commits(
    smtp, make_appointment, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as after_commit:
        appointment = make_appointment(next_monday_at(10))
        rows = list(OutgoingEmail.objects.order_by("pk"))
        assert [(e.kind, e.status) for e in rows] == [
            ("request_received", "pending"),
            ("staff_new_request", "pending"),
        ]
        assert all(e.appointment == appointment for e in rows)
    assert smtp.messages == []  # nothing goes out inside the transaction
    for callback in after_commit:
        callback()
    assert len(smtp.messages) == 2
    assert set(OutgoingEmail.objects.values_list("status", flat=True)) == {"sent"}
    assert all(e.sent_at and e.attempts == 1 for e in OutgoingEmail.objects.all())


def test_a_booking_that_rolls_back_leaves_no_email_behind(
    smtp, make_appointment, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        make_appointment(next_monday_at(10))
        raise RuntimeError("something later in the request failed")
    assert not Appointment.objects.exists()
    assert not OutgoingEmail.objects.exists()
    assert smtp.messages == []


def test_the_booking_stands_and_its_page_shows_when_smtp_is_down(smtp_down, book, client):
    appointment = book(next_monday_at(10))  # raises nothing
    assert Appointment.objects.filter(pk=appointment.pk, status="requested").exists()
    patient = OutgoingEmail.objects.get(kind="request_received")
    assert (patient.status, patient.attempts) == ("pending", 1)
    assert "Connection" in patient.last_error  # ConnectionRefusedError
    assert patient.next_attempt_at > timezone.now()
    # After one failure to connect, the staff notice waits for send_pending_emails.
    staff = OutgoingEmail.objects.get(kind="staff_new_request")
    assert (staff.status, staff.attempts) == ("pending", 0)
    page = client.get(appointment.patient_url)
    assert page.status_code == 200
    assert appointment.reference in page.content.decode()


def test_send_pending_emails_delivers_once_smtp_is_back(smtp_down, book):
    book(next_monday_at(10))
    smtp_down.start()
    out, _ = run_command("send_pending_emails")
    # The staff notice was never tried, so it is due; the patient's waits for its retry.
    assert "Sent 1, will retry 0, gave up on 0." in out
    assert [m["To"] for m in smtp_down.messages] == ["front-desk@clinic.test"]
    time_passes(emails.retry_delay(1))
    out, _ = run_command("send_pending_emails")
    assert "Sent 1" in out
    assert [m["To"] for m in smtp_down.messages][1:] == ["ada@example.com"]
    assert OutgoingEmail.objects.get(kind="request_received").attempts == 2
    assert set(OutgoingEmail.objects.values_list("status", flat=True)) == {"sent"}
    time_passes(timedelta(days=1))
    run_command("send_pending_emails")
    assert len(smtp_down.messages) == 2


def test_retries_wait_longer_each_time_then_give_up(smtp_down, book):
    book(next_monday_at(10))
    OutgoingEmail.objects.exclude(kind="request_received").delete()
    email = OutgoingEmail.objects.get()
    delays = []
    for _ in range(3):
        email.refresh_from_db()
        delays.append(email.next_attempt_at - email.claimed_at)
        time_passes(timedelta(days=1))
        out, _ = run_command("send_pending_emails", "--max-attempts", "4")
    email.refresh_from_db()
    assert email.status == "failed"
    assert email.attempts == 4
    assert "Connection" in email.last_error
    assert "gave up on 1" in out
    minutes = [round(delay / timedelta(minutes=1)) for delay in delays]
    assert minutes == [2, 4, 8]
    assert emails.retry_delay(30) == timedelta(hours=6)


def test_one_unreachable_server_does_not_cost_a_timeout_per_message(smtp_down, book):
    book(next_monday_at(10))
    time_passes(timedelta(days=1))
    before = sum(OutgoingEmail.objects.values_list("attempts", flat=True))
    run_command("send_pending_emails")
    # Two were due; the first failure to connect ended the run.
    assert sum(OutgoingEmail.objects.values_list("attempts", flat=True)) == before + 1


def test_an_address_the_server_refuses_is_given_up_and_the_others_still_go(smtp, book):
    smtp.refused = {"nobody@example.com"}
    book(next_monday_at(10), email="nobody@example.com")
    patient = OutgoingEmail.objects.get(kind="request_received")
    assert patient.status == "failed"
    assert patient.attempts == 1
    assert "550" in patient.last_error
    assert [m["To"] for m in smtp.messages] == ["front-desk@clinic.test"]


def test_a_message_interrupted_while_sending_is_not_resent_but_reported(smtp, book):
    book(next_monday_at(10))
    interrupted = OutgoingEmail.objects.filter(kind="request_received")
    # As a sender that crashed after claiming the row would leave it.
    interrupted.update(
        status=Status.SENDING, claimed_at=timezone.now() - timedelta(hours=1), sent_at=None
    )
    time_passes(timedelta(days=1))
    _, err = run_command("send_pending_emails")
    assert len(smtp.messages) == 2  # the two sent at booking; nothing again
    assert interrupted.get().status == "sending"
    assert "1 email(s) were interrupted" in err
    assert list(emails.stuck()) == list(interrupted)


def test_a_row_is_claimed_by_one_sender_only(smtp_down, book):
    book(next_monday_at(10))
    time_passes(timedelta(days=1))
    email = OutgoingEmail.objects.get(kind="request_received")
    assert emails.claim(email.pk) is not None
    assert emails.claim(email.pk) is None
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("sending", 2)


def test_resending_a_sent_message_sends_a_copy_and_keeps_the_first(smtp, book):
    book(next_monday_at(10))
    first = OutgoingEmail.objects.get(kind="request_received")
    copy = emails.resend(first)
    emails.send_queued([copy.pk])
    assert copy.pk != first.pk
    assert OutgoingEmail.objects.get(pk=copy.pk).status == "sent"
    assert OutgoingEmail.objects.get(pk=first.pk).status == "sent"
    assert [m["To"] for m in smtp.messages].count("ada@example.com") == 2


def test_resending_a_failed_message_puts_it_back_in_the_queue(smtp_down, book):
    book(next_monday_at(10))
    OutgoingEmail.objects.update(status=Status.FAILED, attempts=10)
    failed = OutgoingEmail.objects.get(kind="request_received")
    requeued = emails.resend(failed)
    assert requeued.pk == failed.pk
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("pending", 0)
    smtp_down.start()
    run_command("send_pending_emails")
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == ("sent", 1)
    assert [m["To"] for m in smtp_down.messages] == ["ada@example.com"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_senders_at_once_send_each_message_exactly_once(postgresql, smtp):
    OutgoingEmail.objects.bulk_create(
        OutgoingEmail(
            kind=OutgoingEmail.Kind.REMINDER,
            to_address=f"patient{i}@example.com",
            subject="Reminder",
            body_text="See you soon.",
        )
        for i in range(12)
    )
    smtp.delay = 0.05  # a slow server, so that the two senders overlap
    start = threading.Barrier(2)
    results = []

    def sender():
        try:
            start.wait()
            results.append(emails.send_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    recipients = [m["To"] for m in smtp.messages]
    assert sorted(recipients) == sorted(f"patient{i}@example.com" for i in range(12))
    assert sum(r["sent"] for r in results) == 12
    assert all(r["sent"] for r in results)  # both really took part
    assert set(OutgoingEmail.objects.values_list("status", flat=True)) == {"sent"}


def test_send_failures_are_logged_without_the_patients_address(smtp, book, caplog):
    smtp.refused = {"nobody@example.com"}
    with caplog.at_level("INFO", logger="booking"):
        book(next_monday_at(10), email="nobody@example.com", first_name="Zebulon")
    assert "SMTPRecipientsRefused" in caplog.text
    assert "nobody@example.com" not in caplog.text
    assert "Zebulon" not in caplog.text


def test_send_pending_emails_sends_everything_due_through_one_connection(smtp_down, book):
    book(next_monday_at(10))
    book(next_monday_at(14), email="bo@example.com")
    smtp_down.start()
    time_passes(emails.retry_delay(1))
    out, _ = run_command("send_pending_emails")
    assert "Sent 4, will retry 0, gave up on 0." in out
    assert len(smtp_down.messages) == 4
    assert smtp_down.connections == 1


def test_a_backlog_larger_than_a_read_is_sent_whole_in_order_and_within_the_limit(
    smtp_down, book, monkeypatch
):
    """A burst's or an outage's emails are read a few at a time, not all into memory."""
    monkeypatch.setattr(emails, "READ_BATCH", 3)
    addresses = [f"patient{n}@example.com" for n in range(4)]
    for hour, address in zip((9, 11, 13, 15), addresses, strict=True):
        book(next_monday_at(hour), email=address)  # 8 emails, none sent: the server is down
    smtp_down.start()
    time_passes(emails.retry_delay(1))
    out, _ = run_command("send_pending_emails", "--limit", "7")
    assert "Sent 7, will retry 0, gave up on 0." in out
    due_order = list(OutgoingEmail.objects.order_by("next_attempt_at", "pk"))
    assert [m["To"] for m in smtp_down.messages] == [e.to_address for e in due_order[:7]]
    assert smtp_down.connections == 1
    out, _ = run_command("send_pending_emails")
    assert "Sent 1, will retry 0, gave up on 0." in out
    assert sorted(m["To"] for m in smtp_down.messages) == sorted(
        [*addresses, *["front-desk@clinic.test"] * 4]
    )


def test_a_message_the_appointment_has_outgrown_is_not_sent_late(smtp_down, book, staff):
    """The mail server was down while staff confirmed and the patient then cancelled: once
    it is back, the patient hears that the appointment is cancelled, not that it stands."""
    appointment = book(next_monday_at(10))
    appointment.confirm(by=staff)
    appointment.cancel(by=staff)
    smtp_down.start()
    time_passes(timedelta(days=1))
    out, _ = run_command("send_pending_emails")
    assert "Sent 1, will retry 0, gave up on 3." in out
    assert [m["Subject"].split(" · ")[0] for m in smtp_down.messages] == [
        f"Your appointment is cancelled ({appointment.reference})"
    ]
    outgrown = OutgoingEmail.objects.exclude(kind="cancelled")
    assert {email.kind for email in outgrown} == {
        "request_received",
        "staff_new_request",
        "confirmed",
    }
    assert {(email.status, email.last_error) for email in outgrown} == {
        ("failed", "Not sent: the appointment is cancelled now.")
    }


def test_an_interrupted_message_that_no_longer_holds_is_settled_not_reported_forever(
    smtp, book, after_commit, staff
):
    """Nobody would send it again (staff may not): the operator's cron is not told about it
    every minute for ever; the row says why it stopped."""
    appointment = book(next_monday_at(10))
    after_commit(appointment.confirm, by=staff)
    confirmation = OutgoingEmail.objects.filter(kind="confirmed")
    confirmation.update(status=Status.SENDING, claimed_at=timezone.now() - timedelta(hours=1))
    after_commit(appointment.cancel, by=staff)
    _, err = run_command("send_pending_emails")
    assert err == ""
    settled = confirmation.get()
    assert settled.status == "closed"
    assert settled.last_error == (
        "Interrupted while being sent; not sent again: the appointment is cancelled now."
    )
    assert not emails.stuck().exists()
    _, err = run_command("send_pending_emails")
    assert err == ""
