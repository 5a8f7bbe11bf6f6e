"""Every patient email says what the patient can do next, in words that hold for them:
until when they can cancel online, whom to call, and where to ask for another time."""

import re
from datetime import timedelta
from html import unescape

from django.utils import timezone

from .conftest import next_monday_at
from .test_messages import PATIENT, html_of, text_of

PHONE = "(212) 555-0100"


def both_parts(message):
    """The plain text, and what the HTML part reads as (its text) and links to."""
    html = html_of(message)
    links = " ".join(re.findall(r'href="([^"]+)"', html))
    return (text_of(message), unescape(re.sub(r"<[^>]+>", "", html) + "\n" + links))


def to_patient(smtp, words):
    (message,) = [m for m in smtp.messages_to(PATIENT) if words in m["Subject"]]
    return message


def test_a_declined_request_says_so_in_its_subject_and_offers_another_time(
    smtp, book, after_commit, staff
):
    appointment = book(next_monday_at(10))
    after_commit(appointment.decline, by=staff)
    message = smtp.only_message(
        To=PATIENT,
        Subject=f"We cannot offer the time you asked for ({appointment.reference}) · Test Clinic",
    )
    when = next_monday_at(10).strftime("%A, %B %-d, %Y")
    for body in both_parts(message):
        assert f"we cannot see you on {when} at 10:00 AM" in body
        assert f"Your request {appointment.reference} is closed" in body
        # Another time with the same treatment, or a call to find one.
        assert f"https://clinic.test/book/?service={appointment.service.slug}" in body
        assert f"call us at {PHONE}" in body
        assert "we will find you the next free time" in body
        # The number once, where it helps, and not offered again a line later.
        assert "Questions? Call us" not in body
        assert "Questions? Reply to this email." in body
        # Left without care: the urgent advice belongs here most of all.
        assert "emergency department" in body


def test_the_first_email_promises_only_what_a_decline_gives(smtp, book):
    book(next_monday_at(10))
    message = smtp.only_message(To=PATIENT)
    for body in both_parts(message):
        assert "suggest another" not in body
        assert "we will tell you, and you can choose another time online or call us" in body
        # The red flags are a reason not to wait for us, before anything is confirmed.
        assert "Do not wait for us" in body or "do not wait for us" in body
        assert "wait for your appointment" not in body


def test_a_confirmation_gives_the_last_moment_to_cancel_online(smtp, book, after_commit, staff):
    appointment = book(next_monday_at(10))
    after_commit(appointment.confirm, by=staff)
    message = to_patient(smtp, "confirmed")
    day_before = (next_monday_at(10) - timedelta(hours=24)).strftime("%A, %B %-d, %Y")
    text = text_of(message)
    for body in both_parts(message):
        assert f"you can cancel online until {day_before} at 10:00 AM" in body
        assert f"After that, please call us at {PHONE}" in body
        # What to bring and wear, as the patient's page says.
        assert "loose, comfortable clothing" in body
    # In plain text the link has its own label, not the end of "please call us".
    assert (
        f"See or cancel your appointment online:\nhttps://clinic.test{appointment.patient_url}"
        in text
    )


def test_a_confirmation_inside_the_notice_does_not_offer_to_cancel_online(
    smtp, book, after_commit, staff
):
    soon = timezone.now().replace(second=0, microsecond=0) + timedelta(hours=5)
    appointment = book(soon)
    after_commit(appointment.confirm, by=staff)
    message = to_patient(smtp, "confirmed")
    for body in both_parts(message):
        assert "cancel online until" not in body
        assert f"too late to cancel online: if you cannot come, please call us at {PHONE}" in body


def test_a_call_by_phone_is_confirmed_with_what_to_have_ready(
    smtp, book, after_commit, staff, short_service
):
    short_service.by_phone = True
    short_service.save()
    appointment = book(next_monday_at(10), service=short_service)
    after_commit(appointment.confirm, by=staff)
    message = to_patient(smtp, "confirmed")
    for body in both_parts(message):
        assert "keep your phone at hand" in body
        assert "loose, comfortable clothing" not in body
        assert "if the time no longer suits you, you can cancel online until" in body.lower()


def test_a_move_says_from_when_to_when(smtp, book, after_commit, staff):
    appointment = book(next_monday_at(10))
    after_commit(appointment.confirm, by=staff)
    after_commit(appointment.reschedule, next_monday_at(14), by=staff)
    moved = to_patient(smtp, "new time")
    old = next_monday_at(10).strftime("%A, %B %-d, %Y")
    for body in both_parts(moved):
        assert f"has moved from {old} at 10:00 AM to:" in body
        assert "2:00 PM to 3:15 PM" in body


def test_a_cancelled_appointment_asks_the_patient_to_remove_it_from_their_calendar(
    smtp, book, after_commit, staff
):
    appointment = book(next_monday_at(10))
    after_commit(appointment.confirm, by=staff)
    after_commit(appointment.cancel, by=staff, note="The clinic is closed that day.")
    message = to_patient(smtp, "cancelled")
    for body in both_parts(message):
        # Not every calendar app acts on the attached file: the patient is not left to trust it.
        assert "please delete it there" in body
        assert f"https://clinic.test/book/?service={appointment.service.slug}" in body
        assert "emergency department" in body


def test_a_request_inside_the_notice_does_not_offer_to_cancel_it_online(smtp, book, clinic):
    # Two days' notice to cancel; the request is for tomorrow evening, 30 hours away.
    clinic.cancellation_notice_hours = 48
    clinic.save()
    book(timezone.now().replace(second=0, microsecond=0) + timedelta(hours=30))
    (message,) = smtp.messages_to(PATIENT)
    for body in both_parts(message):
        assert "cancel it" not in body
        assert f"too late to cancel online: if you cannot come, please call us at {PHONE}" in body
        assert "See your request" in body


def test_a_move_inside_the_notice_does_not_offer_to_cancel_online(smtp, book, after_commit, staff):
    appointment = book(next_monday_at(10))
    after_commit(appointment.confirm, by=staff)
    soon = timezone.now().replace(second=0, microsecond=0) + timedelta(hours=5)
    after_commit(appointment.reschedule, soon, by=staff)
    message = to_patient(smtp, "new time")
    for body in both_parts(message):
        assert "See or cancel" not in body
        assert "See your appointment online" in body
