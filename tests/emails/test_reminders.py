"""Reminders: one per confirmed appointment, the day before it (earlier if cancelling online
closes before then), on the clinic's calendar, across DST too."""

import threading
from datetime import date, datetime, time, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from booking import emails
from booking.models import Appointment, Clinic, OutgoingEmail

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


@pytest.fixture
def confirmed_last_week(confirmed):
    """A confirmed appointment whose confirmation email went out a week ago."""

    def make(start, **fields):
        appointment = confirmed(start, **fields)
        told_at(appointment, OutgoingEmail.Kind.CONFIRMED, timezone.now() - timedelta(days=7))
        return appointment

    return make


def told_at(appointment, kind, moment, *, sent=None):
    """Date the appointment's email of this kind (its confirmation, its new time): written
    at `moment`, and sent then too unless `sent` says when."""
    emails_of_kind = appointment.emails.filter(kind=kind)
    assert emails_of_kind.update(created_at=moment) == 1
    emails_of_kind.exclude(sent_at=None).update(sent_at=sent or moment)


def hours_from_now(hours):
    """A start on the quarter hour, about this many hours ahead."""
    start = timezone.now() + timedelta(hours=hours)
    return start.replace(minute=start.minute // 15 * 15, second=0, microsecond=0)


def reminder_messages(smtp):
    return [m for m in smtp.messages if m["Subject"].startswith("Reminder:")]


def at(day, hour, minute=0):
    return datetime.combine(day, time(hour, minute), NY)


def test_each_confirmed_appointment_gets_one_reminder_however_often_it_runs(
    smtp, confirmed_last_week, send_reminders
):
    # Three hours ahead, its day before has always come (10:00 yesterday or today).
    soon = confirmed_last_week(hours_from_now(3))
    confirmed_last_week(hours_from_now(24 * 3))  # its day before has not come
    for _ in range(3):
        send_reminders()
    (message,) = reminder_messages(smtp)
    assert message["To"] == "ada@example.com"
    local = timezone.localtime(soon.start, NY)
    # Spaces evened out: Python's email package may fold the long header before the
    # "·" (an encoded word) and leave a double space where it unfolds.
    assert " ".join(message["Subject"].split()) == (
        f"Reminder: your appointment on {local:%A} at {local.strftime('%-I:%M %p')} "
        f"({soon.reference}) · Test Clinic"
    )
    body = message.get_body(("plain",)).get_content()
    assert local.strftime("%A, %B %-d, %Y") in body
    assert local.strftime("%-I:%M %p") in body
    assert f"(New York time, {local.tzname()})" in body
    assert "https://clinic.test" + soon.patient_url in body
    assert message.get_body(("html",)) is not None
    assert reminders().get().status == "sent"
    soon.refresh_from_db()
    assert soon.reminder_sent_at is not None


def test_the_reminder_goes_on_the_day_before_from_ten_in_the_morning(
    smtp, confirmed, queue_reminders
):
    monday = next_monday_at(16, weeks_ahead=3)
    sunday = monday.date() - timedelta(days=1)
    confirmed(monday)
    # Two days ahead is not "the day before", even at the same hour.
    assert queue_reminders(at(sunday - timedelta(days=1), 16)) == 0
    assert queue_reminders(at(sunday, 9, 59)) == 0
    assert queue_reminders(at(sunday, 10)) == 1
    assert queue_reminders(at(sunday, 18)) == 0  # once only
    assert len(reminder_messages(smtp)) == 1


def test_a_morning_appointment_is_reminded_while_it_can_still_be_cancelled_online(
    smtp, confirmed, queue_reminders
):
    monday = next_monday_at(8, weeks_ahead=3)
    sunday = monday.date() - timedelta(days=1)
    confirmed(monday)
    # Cancelling online closes 24 hours before, Sunday at 8:00: two hours before that.
    assert queue_reminders(at(sunday, 5, 59)) == 0
    assert queue_reminders(at(sunday, 6)) == 1


def test_the_reminder_comes_while_the_patient_can_still_cancel_online(
    smtp, confirmed_last_week, send_reminders
):
    # 26 hours ahead: cancelling online closes in 2 hours, so the reminder is due now.
    confirmed_last_week(hours_from_now(26))
    send_reminders()
    (message,) = reminder_messages(smtp)
    assert "you can cancel online until" in message.get_body(("plain",)).get_content()


def test_a_longer_cancellation_notice_brings_the_reminder_forward(smtp, confirmed, queue_reminders):
    clinic = Clinic.load()
    clinic.cancellation_notice_hours = 48
    clinic.save()
    monday = next_monday_at(15, weeks_ahead=3)
    saturday = monday.date() - timedelta(days=2)
    confirmed(monday)
    assert queue_reminders(at(saturday, 12, 59)) == 0
    assert queue_reminders(at(saturday, 13)) == 1


def test_a_patient_confirmed_on_the_day_before_gets_no_second_email(
    smtp, confirmed, queue_reminders
):
    """The confirmation, sent that day, was the reminder."""
    monday = next_monday_at(10, weeks_ahead=3)
    sunday = monday.date() - timedelta(days=1)
    appointment = confirmed(monday)
    told_at(appointment, OutgoingEmail.Kind.CONFIRMED, at(sunday, 0, 5))
    assert queue_reminders(at(sunday, 10)) == 0
    assert queue_reminders(at(monday.date(), 8)) == 0
    assert reminder_messages(smtp) == []


def test_a_confirmation_sent_the_evening_before_that_does_not_replace_the_reminder(
    smtp, confirmed, queue_reminders
):
    monday = next_monday_at(10, weeks_ahead=3)
    sunday = monday.date() - timedelta(days=1)
    appointment = confirmed(monday)
    told_at(appointment, OutgoingEmail.Kind.CONFIRMED, at(sunday - timedelta(days=1), 23, 30))
    assert queue_reminders(at(sunday, 10)) == 1


def test_a_confirmation_written_the_evening_before_but_delivered_that_day_is_the_reminder(
    smtp, confirmed, queue_reminders
):
    """Held up by the mail server overnight, it reached the patient that morning."""
    monday = next_monday_at(10, weeks_ahead=3)
    sunday = monday.date() - timedelta(days=1)
    appointment = confirmed(monday)
    written = at(sunday - timedelta(days=1), 23, 30)
    told_at(appointment, OutgoingEmail.Kind.CONFIRMED, written, sent=at(sunday, 9))
    assert queue_reminders(at(sunday, 10)) == 0
    assert reminder_messages(smtp) == []


def test_a_confirmation_that_never_went_out_does_not_count_as_a_reminder(
    smtp, confirmed, queue_reminders
):
    monday = next_monday_at(10, weeks_ahead=3)
    sunday = monday.date() - timedelta(days=1)
    appointment = confirmed(monday)
    told_at(appointment, OutgoingEmail.Kind.CONFIRMED, at(sunday, 9))
    appointment.emails.filter(kind=OutgoingEmail.Kind.CONFIRMED).update(
        status=OutgoingEmail.Status.FAILED
    )
    assert queue_reminders(at(sunday, 10)) == 1


def test_a_reminder_missed_the_day_before_still_goes_before_the_appointment(
    smtp, confirmed, queue_reminders
):
    """As when the server that runs cron was down all Sunday."""
    monday = next_monday_at(10, weeks_ahead=3)
    confirmed(monday)
    assert queue_reminders(at(monday.date(), 10, 15)) == 0  # it has begun
    assert queue_reminders(at(monday.date(), 7)) == 1


def test_requests_and_cancelled_appointments_get_no_reminder(
    smtp, book, confirmed_last_week, staff, send_reminders
):
    book(hours_from_now(3))  # still a request
    confirmed_last_week(hours_from_now(6)).cancel(by=staff)
    reminded = confirmed_last_week(hours_from_now(9))
    send_reminders()
    (message,) = reminder_messages(smtp)
    assert reminded.reference in message["Subject"]


def test_a_moved_appointment_is_reminded_of_its_new_time(
    smtp, confirmed, after_commit, staff, queue_reminders
):
    monday = next_monday_at(10, weeks_ahead=3)
    wednesday = monday + timedelta(days=2)
    appointment = confirmed(monday)
    assert queue_reminders(at(monday.date() - timedelta(days=1), 10)) == 1
    after_commit(appointment.reschedule, wednesday, by=staff)
    assert queue_reminders(at(wednesday.date() - timedelta(days=1), 10)) == 1
    first, second = reminder_messages(smtp)
    assert "Wednesday" in second.get_body(("plain",)).get_content()


def test_a_patient_told_of_a_new_time_on_the_day_before_gets_no_reminder(
    smtp, confirmed, after_commit, staff, queue_reminders
):
    monday = next_monday_at(10, weeks_ahead=3)
    sunday = monday.date() - timedelta(days=1)
    appointment = confirmed(monday)
    assert queue_reminders(at(sunday, 10)) == 1
    # Staff move it to the afternoon on Sunday: the email with the new time was the reminder.
    after_commit(appointment.reschedule, monday + timedelta(hours=5), by=staff)
    told_at(appointment, OutgoingEmail.Kind.RESCHEDULED, at(sunday, 15))
    assert queue_reminders(at(sunday, 16)) == 0
    assert len(reminder_messages(smtp)) == 1


def test_a_reminder_held_up_by_smtp_is_withdrawn_if_the_appointment_is_cancelled(
    smtp_down, confirmed_last_week, after_commit, staff, send_reminders
):
    appointment = confirmed_last_week(hours_from_now(3))
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


def test_the_day_before_a_change_of_clocks_keeps_its_ten_oclock(smtp, confirmed, queue_reminders):
    sunday = next_dst_change(clocks_go="forward")
    saturday, monday = sunday - timedelta(days=1), sunday + timedelta(days=1)
    confirmed(at(monday, 14))  # 14:00 EDT
    assert queue_reminders(at(saturday, 10)) == 0
    # The night lost an hour: 10:00 EDT is 27 real hours before, and still the time.
    assert queue_reminders(at(sunday, 9, 59)) == 0
    assert queue_reminders(at(sunday, 10)) == 1
    body = reminder_messages(smtp)[0].get_body(("plain",)).get_content()
    assert "2:00 PM to 3:15 PM (New York time, EDT)" in body


def test_after_a_night_that_lost_an_hour_the_cancel_deadline_counts_real_hours(
    smtp, confirmed, queue_reminders
):
    sunday = next_dst_change(clocks_go="forward")
    monday = sunday + timedelta(days=1)
    confirmed(at(monday, 9))  # 9:00 EDT: cancelling online closes Sunday at 9:00 EDT
    assert queue_reminders(at(sunday, 6, 59)) == 0
    assert queue_reminders(at(sunday, 7)) == 1


def test_an_appointment_on_the_day_clocks_go_back_is_reminded_the_day_before(
    smtp, confirmed, queue_reminders
):
    sunday = next_dst_change(clocks_go="back")
    saturday, monday = sunday - timedelta(days=1), sunday + timedelta(days=1)
    confirmed(at(sunday, 13))  # 13:00 EST
    confirmed(at(monday, 14))  # 14:00 EST
    assert queue_reminders(at(saturday, 9, 59)) == 0
    assert queue_reminders(at(saturday, 10)) == 1  # Sunday's, on Saturday at 10:00 EDT
    assert queue_reminders(at(sunday, 9, 59)) == 0
    assert queue_reminders(at(sunday, 10)) == 1  # Monday's, on Sunday at 10:00 EST
    first, second = (m.get_body(("plain",)).get_content() for m in reminder_messages(smtp))
    assert "1:00 PM to 2:15 PM (New York time, EST)" in first
    assert "2:00 PM to 3:15 PM (New York time, EST)" in second


def test_a_reminder_held_up_until_the_appointment_began_is_not_sent(
    smtp_down, confirmed_last_week, send_reminders
):
    appointment = confirmed_last_week(hours_from_now(3))
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
        "Not sent: the appointment's time had already come.",
    )
    assert not reminder_messages(smtp_down)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_reminder_runs_at_once_queue_one_reminder(postgresql, smtp, confirmed_last_week):
    confirmed_last_week(hours_from_now(3))
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
