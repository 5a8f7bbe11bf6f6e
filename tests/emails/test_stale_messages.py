"""A message written before the appointment changed never goes out after the change.

Each case is one a patient would read as wrong: a confirmation for the old time after
"your appointment has a new time", "this is still a request" after the confirmation, a
confirmation after they cancelled, a reminder of a time that was moved. They happen when
the mail server was down for a while, or when two things happen at once.
"""

from datetime import datetime, time, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from booking import emails
from booking.models import Appointment, OutgoingEmail, TransitionNotAllowed
from tests.emails.conftest import NY, next_monday_at

PATIENT = "ada@example.com"


def send_pending():
    call_command("send_pending_emails", stdout=StringIO(), stderr=StringIO())


def to_patient(smtp):
    return [
        (" ".join(m["Subject"].split()), m.get_body(("plain",)).get_content())
        for m in smtp.messages
        if m["To"] == PATIENT
    ]


def held_back(kind, minutes):
    """The row is retrying after a failed attempt: due again in `minutes`."""
    later = timezone.now() + timedelta(minutes=minutes)
    OutgoingEmail.objects.filter(kind=kind).update(next_attempt_at=later)


def all_due_now():
    OutgoingEmail.objects.update(next_attempt_at=timezone.now())


def test_a_confirmation_held_up_is_not_sent_after_the_move(smtp_down, book, after_commit, staff):
    appointment = book(next_monday_at(10))
    after_commit(appointment.confirm, by=staff)
    held_back("confirmed", 8)
    smtp_down.start()
    after_commit(Appointment.objects.get(pk=appointment.pk).reschedule, next_monday_at(15))
    all_due_now()

    send_pending()

    subjects = [subject for subject, _ in to_patient(smtp_down)]
    assert not any(s.startswith("Your appointment is confirmed") for s in subjects), subjects
    row = OutgoingEmail.objects.get(kind="confirmed")
    assert row.status == OutgoingEmail.Status.FAILED
    assert row.last_error == "Not sent: the appointment was moved after it was written."


def test_an_older_new_time_is_not_sent_after_a_second_move(smtp_down, book, after_commit, staff):
    appointment = book(next_monday_at(10))
    after_commit(appointment.confirm, by=staff)
    after_commit(Appointment.objects.get(pk=appointment.pk).reschedule, next_monday_at(13))
    held_back("rescheduled", 4)
    smtp_down.start()
    after_commit(Appointment.objects.get(pk=appointment.pk).reschedule, next_monday_at(15))
    all_due_now()

    send_pending()

    moved = [body for subject, body in to_patient(smtp_down) if "new time" in subject]
    assert len(moved) == 1
    assert "3:00 PM" in moved[0]


def test_still_a_request_is_not_sent_after_the_confirmation(smtp_down, book, after_commit, staff):
    appointment = book(next_monday_at(10))
    after_commit(appointment.reschedule, next_monday_at(15), by=staff)
    held_back("rescheduled", 8)
    smtp_down.start()
    after_commit(Appointment.objects.get(pk=appointment.pk).confirm, by=staff)
    all_due_now()

    send_pending()

    bodies = [body for _, body in to_patient(smtp_down)]
    assert bodies
    assert not any("still a request" in body for body in bodies)
    row = OutgoingEmail.objects.get(kind="rescheduled")
    assert row.last_error == "Not sent: the appointment changed after it was written."


def test_a_cancellation_while_a_backlog_is_sent_stops_its_confirmation(
    smtp_down, book, after_commit, staff, monkeypatch
):
    first = book(next_monday_at(10), email="first@example.com")
    second = book(next_monday_at(13))
    after_commit(first.confirm, by=staff)
    after_commit(second.confirm, by=staff)
    OutgoingEmail.objects.exclude(kind="confirmed").delete()
    all_due_now()
    smtp_down.start()
    real_as_message = emails.as_message

    def patient_cancels_meanwhile(email):
        if email.appointment_id == first.pk:
            # While the first of the backlog goes out, the second patient cancels.
            Appointment.objects.get(pk=second.pk).cancel(note="By the patient.")
        return real_as_message(email)

    monkeypatch.setattr(emails, "as_message", patient_cancels_meanwhile)
    send_pending()

    row = OutgoingEmail.objects.get(appointment=second, kind="confirmed")
    assert row.status == OutgoingEmail.Status.FAILED
    assert row.last_error == "Not sent: the appointment is cancelled now."


def test_an_appointment_moved_during_the_reminder_run_is_reminded_of_its_new_time(
    smtp, confirmed, after_commit, staff, monkeypatch
):
    monday = next_monday_at(10, weeks_ahead=3)
    sunday = monday.date() - timedelta(days=1)
    first = confirmed(monday)
    second = confirmed(monday + timedelta(hours=2))  # Monday 12:00
    real_compose = emails.compose
    moved = []

    def staff_move_the_second_meanwhile(kind, appointment, **kwargs):
        if kind == OutgoingEmail.Kind.REMINDER and appointment.pk == first.pk and not moved:
            moved.append(True)
            Appointment.objects.get(pk=second.pk).reschedule(
                monday + timedelta(days=2, hours=2), by=staff
            )
        return real_compose(kind, appointment, **kwargs)

    monkeypatch.setattr(emails, "compose", staff_move_the_second_meanwhile)
    after_commit(emails.queue_reminders, now=datetime.combine(sunday, time(10), NY))
    monkeypatch.setattr(emails, "compose", real_compose)
    tuesday = sunday + timedelta(days=2)
    after_commit(emails.queue_reminders, now=datetime.combine(tuesday, time(10), NY))

    reminders = [
        " ".join(m["Subject"].split())
        for m in smtp.messages
        if m["Subject"].startswith("Reminder:") and second.reference in m["Subject"]
    ]
    assert len(reminders) == 1
    assert "Wednesday at 12:00 PM" in reminders[0]


def test_a_move_never_undoes_a_cancellation_made_meanwhile(smtp, confirmed, after_commit, staff):
    appointment = confirmed(next_monday_at(10))
    read_by_staff = Appointment.objects.select_related("service").get(pk=appointment.pk)
    after_commit(Appointment.objects.get(pk=appointment.pk).cancel, note="By the patient.")

    with pytest.raises(TransitionNotAllowed):
        after_commit(read_by_staff.reschedule, next_monday_at(15), by=staff)

    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED
    assert appointment.start == next_monday_at(10)
    assert not [m for m in smtp.messages if "new time" in m["Subject"]]


@pytest.mark.parametrize("step", ["confirm", "reschedule"])
def test_no_patient_is_told_of_a_time_that_has_already_passed(
    smtp, book, after_commit, staff, step
):
    # A request nobody answered in time, closed by staff (confirmed, then completed), or a
    # record corrected to when the visit really was: the patient reads nothing about it.
    day = timezone.localdate() - timedelta(days=2)
    past = timezone.make_aware(datetime.combine(day, time(10)), NY)
    appointment = book(past)
    before = to_patient(smtp)
    if step == "confirm":
        after_commit(appointment.confirm, by=staff)
    else:
        after_commit(appointment.reschedule, past + timedelta(hours=4), by=staff)
    send_pending()
    assert to_patient(smtp) == before
    row = OutgoingEmail.objects.get(kind="confirmed" if step == "confirm" else "rescheduled")
    assert row.status == OutgoingEmail.Status.FAILED
    assert row.last_error == "Not sent: the appointment's time had already come."


def test_a_confirmation_from_a_page_opened_before_a_move_gives_the_new_time(
    smtp, book, after_commit, staff
):
    appointment = book(next_monday_at(10))
    opened_before = Appointment.objects.get(pk=appointment.pk)  # the admin's page, say
    after_commit(Appointment.objects.get(pk=appointment.pk).reschedule, next_monday_at(15))
    after_commit(opened_before.confirm, by=staff)
    (subject, body), *_ = [m for m in to_patient(smtp) if m[0].startswith("Your appointment is")]
    assert "3:00 PM" in body
    assert "10:00 AM" not in body
    assert opened_before.start == next_monday_at(15)
