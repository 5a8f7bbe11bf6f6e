"""Reminders: one per confirmed appointment, 24 to 48 real hours before, across DST too."""

import threading
from datetime import date, datetime, time, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from booking import emails
from booking.models import Appointment, OutgoingEmail

from .conftest import NY, next_monday_at


def reminders():
    return OutgoingEmail.objects.filter(kind=OutgoingEmail.Kind.REMINDER)


@pytest.fixture
def send_reminders(after_commit):
    """The command, and the sending that follows each reminder's commit."""

    def run(*args):
        out = StringIO()
        after_commit(call_command, "send_reminders", *args, stdout=out)
        return out.getvalue()

    return run


@pytest.fixture
def queue_reminders(after_commit):
    return lambda now: after_commit(emails.queue_reminders, now=now)


def hours_from_now(hours):
    """A start on the quarter hour, about this many hours ahead."""
    start = timezone.now() + timedelta(hours=hours)
    return start.replace(minute=start.minute // 15 * 15, second=0, microsecond=0)


def reminder_messages(smtp):
    return [m for m in smtp.messages if m["Subject"].startswith("Reminder:")]


def test_each_confirmed_appointment_gets_one_reminder_however_often_it_runs(
    smtp, confirmed, send_reminders
):
    soon = confirmed(hours_from_now(30))
    confirmed(hours_from_now(52))  # too early to remind
    confirmed(hours_from_now(20))  # too late: the confirmation was enough
    for _ in range(3):
        send_reminders()
    (message,) = reminder_messages(smtp)
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == f"Reminder: your appointment ({soon.reference}) · Test Clinic"
    body = message.get_body(("plain",)).get_content()
    local = timezone.localtime(soon.start, NY)
    assert local.strftime("%A, %B %-d, %Y") in body
    assert local.strftime("%-I:%M %p") in body
    assert f"(New York time, {local.tzname()})" in body
    assert "https://clinic.test" + soon.patient_url in body
    assert message.get_body(("html",)) is not None
    assert reminders().get().status == "sent"
    soon.refresh_from_db()
    assert soon.reminder_sent_at is not None


def test_the_window_can_be_set_on_the_command_line(smtp, confirmed, send_reminders):
    confirmed(hours_from_now(52))
    assert "Queued 1 reminder(s)." in send_reminders("--earliest", "72", "--latest", "48")
    assert len(reminder_messages(smtp)) == 1


def test_a_reversed_window_is_refused(db):
    with pytest.raises(CommandError):
        call_command("send_reminders", "--earliest", "24", "--latest", "48")


def test_requests_and_cancelled_appointments_get_no_reminder(
    smtp, book, confirmed, staff, send_reminders
):
    book(hours_from_now(30))  # still a request
    confirmed(hours_from_now(36)).cancel(by=staff)
    send_reminders()
    assert reminder_messages(smtp) == []


def test_a_moved_appointment_is_reminded_of_its_new_time(
    smtp, confirmed, after_commit, staff, send_reminders
):
    appointment = confirmed(hours_from_now(30))
    send_reminders()
    after_commit(appointment.reschedule, hours_from_now(40), by=staff)
    send_reminders()
    first, second = reminder_messages(smtp)
    new_time = timezone.localtime(hours_from_now(40), NY).strftime("%-I:%M %p")
    assert new_time in second.get_body(("plain",)).get_content()


def test_a_reminder_held_up_by_smtp_is_withdrawn_if_the_appointment_is_cancelled(
    smtp_down, confirmed, after_commit, staff, send_reminders
):
    appointment = confirmed(hours_from_now(30))
    send_reminders()
    assert reminders().get().status == "pending"
    after_commit(appointment.cancel, by=staff)
    smtp_down.start()
    OutgoingEmail.objects.update(next_attempt_at=timezone.now())
    call_command("send_pending_emails", stdout=StringIO())
    reminder = reminders().get()
    assert reminder.status == "failed"
    assert "Withdrawn" in reminder.last_error
    assert not [m for m in smtp_down.messages if m["Subject"].startswith("Reminder:")]


def next_dst_change(*, clocks_go):
    """The next Sunday on which New York's clocks go "forward" or "back", days from now."""
    day = date.today() + timedelta(days=3)
    for _ in range(400):
        midnight = datetime.combine(day, time(0), NY).utcoffset()
        noon = datetime.combine(day, time(12), NY).utcoffset()
        if (noon > midnight and clocks_go == "forward") or (
            noon < midnight and clocks_go == "back"
        ):
            return day
        day += timedelta(days=1)
    raise AssertionError("no daylight-saving change in New York within a year")


def at(day, hour, minute=0):
    return datetime.combine(day, time(hour, minute), NY)


def test_reminder_window_counts_real_hours_when_clocks_go_forward(smtp, confirmed, queue_reminders):
    sunday = next_dst_change(clocks_go="forward")
    saturday, monday = sunday - timedelta(days=1), sunday + timedelta(days=1)
    appointment = confirmed(at(monday, 9))  # 9:00 EDT
    # Saturday 7:30 EST is 48.5 real hours before (the night loses an hour): not yet.
    assert queue_reminders(at(saturday, 7, 30)) == 0
    # Saturday 8:30 EST is 47.5 real hours before, though the clock says 48.5.
    assert queue_reminders(at(saturday, 8, 30)) == 1
    assert queue_reminders(at(sunday, 8, 30)) == 0  # once only
    body = reminder_messages(smtp)[0].get_body(("plain",)).get_content()
    assert "9:00 AM to 10:15 AM (New York time, EDT)" in body
    appointment.refresh_from_db()
    assert appointment.reminder_sent_at == at(saturday, 8, 30)


def test_reminder_window_counts_real_hours_when_clocks_go_back(smtp, confirmed, queue_reminders):
    sunday = next_dst_change(clocks_go="back")
    saturday, monday = sunday - timedelta(days=1), sunday + timedelta(days=1)
    confirmed(at(monday, 9))  # 9:00 EST
    # Saturday 9:30 EDT is 48.5 real hours before (the night gains an hour), though the
    # clock says 47.5: not yet.
    assert queue_reminders(at(saturday, 9, 30)) == 0
    assert queue_reminders(at(saturday, 10, 30)) == 1
    body = reminder_messages(smtp)[0].get_body(("plain",)).get_content()
    assert "9:00 AM to 10:15 AM (New York time, EST)" in body


def test_the_last_moment_for_a_reminder_is_24_real_hours_before(smtp, confirmed, queue_reminders):
    sunday = next_dst_change(clocks_go="forward")
    monday = sunday + timedelta(days=1)
    confirmed(at(monday, 9))
    # Sunday 9:30 EDT is 23.5 real hours before: too late for a reminder.
    assert queue_reminders(at(sunday, 9, 30)) == 0
    assert queue_reminders(at(sunday, 8, 30)) == 1


def test_a_normal_week_keeps_its_window_too(smtp, confirmed, queue_reminders):
    appointment = confirmed(next_monday_at(10, weeks_ahead=3))
    start = appointment.start
    assert queue_reminders(start - timedelta(hours=48, minutes=1)) == 0
    assert queue_reminders(start - timedelta(hours=48)) == 1


def test_a_reminder_held_up_until_the_appointment_began_is_not_sent(
    smtp_down, confirmed, send_reminders
):
    appointment = confirmed(hours_from_now(30))
    send_reminders()
    # As if the mail server stayed down until after the appointment began.
    Appointment.objects.filter(pk=appointment.pk).update(
        start=timezone.now() - timedelta(hours=1), end=timezone.now()
    )
    smtp_down.start()
    OutgoingEmail.objects.update(next_attempt_at=timezone.now())
    call_command("send_pending_emails", stdout=StringIO())
    reminder = reminders().get()
    assert (reminder.status, reminder.last_error) == (
        "failed",
        "Not sent: the appointment had already started.",
    )
    assert not reminder_messages(smtp_down)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_reminder_runs_at_once_queue_one_reminder(postgresql, smtp, confirmed):
    confirmed(hours_from_now(30))
    start = threading.Barrier(2)

    def run():
        try:
            start.wait()
            emails.queue_reminders()
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert reminders().count() == 1
    assert len(reminder_messages(smtp)) == 1
