"""What patients and staff read: every message, both parts, and the calendar file."""

from datetime import UTC

import icalendar
import pytest

from booking.models import Appointment, OutgoingEmail

from .conftest import next_monday_at

PATIENT = "ada@example.com"
STAFF = "front-desk@clinic.test"


def text_of(message):
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def html_of(message):
    return message.get_body(("html",)).get_content()


def calendar_files(message):
    return [
        part for part in message.iter_attachments() if part.get_content_type() == "text/calendar"
    ]


def parsed_event(message):
    (attachment,) = calendar_files(message)
    assert attachment.get_filename() == "appointment.ics"
    calendar = icalendar.Calendar.from_ical(attachment.get_content())
    (event,) = calendar.walk("VEVENT")
    return calendar, event


def test_patient_hears_that_the_request_arrived(smtp, book):
    appointment = book(next_monday_at(10))
    message = smtp.only_message(To=PATIENT)
    assert message["Subject"] == f"We received your request {appointment.reference} · Test Clinic"
    assert message["From"] == "Test Clinic <appointments@clinic.test>"
    assert message["Reply-To"] == "clinic@example.com"
    link = "https://clinic.test" + appointment.patient_url
    for body in (text_of(message), html_of(message)):
        assert "Hello Ada" in body
        assert appointment.reference in body
        assert link in body
        assert "Initial consultation and treatment" in body
        assert "Maya Chen, L.Ac." in body
        assert "10:00 AM to 11:15 AM" in body
        assert "(New York time, E" in body  # EST or EDT, whichever applies that day
        assert next_monday_at(10).strftime("%A, %B %-d, %Y") in body
        assert "not yet a confirmed appointment" in body
        assert "(212) 555-0100" in body
        assert "1 Test Road" in body
        assert "emergency department" in body
    assert not calendar_files(message)


def test_the_patients_link_is_the_configured_address_not_a_request_host(smtp, book, settings):
    settings.CLINIC_SITE_URL = "https://www.real-clinic.example"
    appointment = book()
    body = text_of(smtp.only_message(To=PATIENT))
    assert "https://www.real-clinic.example/book/request/" in body
    assert (
        Appointment.objects.from_token(body.split("/book/request/")[1].split("/")[0]) == appointment
    )


def test_staff_hear_of_a_new_request_without_its_health_details(smtp, book):
    appointment = book(message="My lower back hurts since Tuesday", phone="+12125550199")
    message = smtp.only_message(To=STAFF)
    assert message["Subject"] == f"New request {appointment.reference} from Ada · Test Clinic"
    assert message["Reply-To"] is None
    for body in (text_of(message), html_of(message)):
        assert "Ada Lovelace" in body
        assert appointment.reference in body
        assert f"https://clinic.test/admin/booking/appointment/{appointment.pk}/change/" in body
        assert "lower back" not in body
        assert "5550199" not in body
        assert PATIENT not in body


def test_staff_hear_which_article_a_request_came_from(smtp, book, published_article):
    book(source_article=published_article)
    message = smtp.only_message(To=STAFF)
    for body in (text_of(message), html_of(message)):
        assert "Booked from the article: Acupuncture for sciatica" in body


def test_a_request_staff_enter_by_phone_does_not_notify_staff(
    smtp, service, practitioner, staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        Appointment(
            service=service,
            practitioner=practitioner,
            start=next_monday_at(10),
            first_name="Ada",
            last_name="Lovelace",
            email=PATIENT,
            phone="+12125550123",
            channel=Appointment.Channel.STAFF,
            created_by=staff,
        ).book(by=staff)
    assert [m["To"] for m in smtp.messages] == [PATIENT]
    # The patient spoke to the front desk: the email does not thank them for a form.
    for body in (text_of(smtp.messages[0]), html_of(smtp.messages[0])):
        assert "As agreed with our front desk, we have noted your request" in body
        assert "we have received your request for a consultation" not in body


def test_confirmation_carries_a_calendar_file_that_reads_back(smtp, book, after_commit, staff):
    appointment = book(next_monday_at(10))
    after_commit(appointment.confirm, by=staff, note="Internal: asked for Maya")
    message = smtp.only_message(
        To=PATIENT, Subject=f"Your appointment is confirmed ({appointment.reference}) · Test Clinic"
    )
    for body in (text_of(message), html_of(message)):
        assert "Your appointment is confirmed" in body
        assert "10:00 AM to 11:15 AM" in body
        assert "you can cancel online until" in body
        assert "https://clinic.test/book/request/" in body
        # A note on a confirmation is for staff, not the patient.
        assert "Internal" not in body
    calendar, event = parsed_event(message)
    assert str(calendar["method"]) == "PUBLISH"
    assert str(event["uid"]) == f"appointment-{appointment.reference}@clinic.test"
    assert event.decoded("dtstart") == appointment.start.astimezone(UTC)
    assert event.decoded("dtend") == appointment.end.astimezone(UTC)
    assert event.decoded("dtstart").utcoffset().total_seconds() == 0
    assert int(event["sequence"]) == 0
    assert str(event["status"]) == "CONFIRMED"
    assert str(event["summary"]) == "Initial consultation and treatment at Test Clinic"
    assert str(event["location"]) == "1 Test Road, Testville, NY 00000"
    assert appointment.reference in str(event["description"])


def test_the_confirmation_links_to_the_clinic_on_a_map(smtp, book, after_commit, staff, clinic):
    clinic.map_url = "https://maps.example.org/?q=1+Test+Road"
    clinic.save()
    appointment = book(next_monday_at(10))
    after_commit(appointment.confirm, by=staff)
    message = smtp.only_message(
        To=PATIENT, Subject=f"Your appointment is confirmed ({appointment.reference}) · Test Clinic"
    )
    assert "Map: https://maps.example.org/?q=1+Test+Road" in text_of(message)
    assert 'href="https://maps.example.org/?q=1+Test+Road"' in html_of(message)


def test_rescheduling_sends_an_updated_calendar_file_with_the_same_uid(
    smtp, book, after_commit, staff
):
    appointment = book(next_monday_at(10))
    after_commit(appointment.confirm, by=staff)
    after_commit(appointment.reschedule, next_monday_at(14), by=staff)
    confirmation = smtp.only_message(
        Subject=f"Your appointment is confirmed ({appointment.reference}) · Test Clinic"
    )
    moved = smtp.only_message(
        Subject=f"Your appointment has a new time ({appointment.reference}) · Test Clinic"
    )
    assert moved["To"] == PATIENT
    for body in (text_of(moved), html_of(moved)):
        assert "2:00 PM to 3:15 PM" in body
        assert "open the attached file, appointment.ics, to update it" in body
    _, first = parsed_event(confirmation)
    _, second = parsed_event(moved)
    assert str(second["uid"]) == str(first["uid"])
    assert int(second["sequence"]) == int(first["sequence"]) + 1 == 1
    assert second.decoded("dtstart") == next_monday_at(14).astimezone(UTC)


def test_moving_a_request_that_is_not_confirmed_yet_sends_no_calendar_file(
    smtp, book, after_commit, staff
):
    appointment = book(next_monday_at(10))
    after_commit(appointment.reschedule, next_monday_at(14), by=staff)
    moved = smtp.only_message(
        Subject=f"Your request has a new time ({appointment.reference}) · Test Clinic"
    )
    assert "still a request" in text_of(moved)
    assert not calendar_files(moved)


def test_a_declined_request_carries_the_staff_note(smtp, book, after_commit, staff):
    appointment = book(next_monday_at(10))
    after_commit(
        appointment.decline, by=staff, note="Maya is away that week.\nTuesday 9:00 is free."
    )
    message = smtp.only_message(
        Subject=f"We cannot offer the time you asked for ({appointment.reference}) · Test Clinic"
    )
    assert message["To"] == PATIENT
    text, html = text_of(message), html_of(message)
    assert "we cannot see you on" in text
    assert "Maya is away that week.\nTuesday 9:00 is free." in text
    assert "Maya is away that week.<br>Tuesday 9:00 is free." in html
    for body in (text, html):
        assert "https://clinic.test/book/" in body
    assert not calendar_files(message)


def test_a_patient_who_cancels_is_told_and_so_are_staff(smtp, book, after_commit, staff):
    appointment = book(next_monday_at(10))
    after_commit(appointment.confirm, by=staff)
    after_commit(appointment.cancel)  # by=None: the patient, through their link
    patient = smtp.only_message(
        Subject=f"Your appointment is cancelled ({appointment.reference}) · Test Clinic"
    )
    when = next_monday_at(10).strftime("%A, %B %-d, %Y")
    for body in (text_of(patient), html_of(patient)):
        # The appointment's time, not the day it was cancelled.
        assert (
            f"As you asked, we have cancelled your appointment {appointment.reference} "
            f"for {when} at 10:00 AM" in body
        )
    calendar, event = parsed_event(patient)
    assert str(calendar["method"]) == "CANCEL"
    assert str(event["status"]) == "CANCELLED"
    assert int(event["sequence"]) == 1
    notice = smtp.only_message(Subject=f"Ada cancelled {appointment.reference} · Test Clinic")
    assert notice["To"] == STAFF
    assert "Ada Lovelace cancelled their confirmed appointment" in text_of(notice)


def test_staff_cancelling_tells_the_patient_with_their_note_and_no_staff_notice(
    smtp, book, after_commit, staff
):
    appointment = book(next_monday_at(10))
    after_commit(appointment.cancel, by=staff, note="The clinic is closed that day.")
    message = smtp.only_message(
        Subject=f"Your request is cancelled ({appointment.reference}) · Test Clinic"
    )
    assert "we have had to cancel your request" in text_of(message)
    assert "The clinic is closed that day." in html_of(message)
    assert not calendar_files(message)  # it was never confirmed
    assert not smtp.messages_to(STAFF)[1:]  # only the new-request notice


@pytest.mark.parametrize("step", ["complete", "mark_no_show"])
def test_completed_and_no_show_send_nothing(
    smtp, book, after_commit, staff, step, move_into_the_past
):
    appointment = book(next_monday_at(10))
    after_commit(appointment.confirm, by=staff)
    move_into_the_past(appointment)
    before = len(smtp.messages)
    after_commit(getattr(appointment, step), by=staff)
    assert len(smtp.messages) == before
    assert OutgoingEmail.objects.count() == before


def test_every_message_has_a_plain_text_and_an_html_part(smtp, book, after_commit, staff):
    appointment = book(next_monday_at(10))
    after_commit(appointment.confirm, by=staff)
    after_commit(appointment.reschedule, next_monday_at(14), by=staff)
    after_commit(appointment.cancel)
    assert len(smtp.messages) == 6
    for message in smtp.messages:
        assert text_of(message).strip()
        assert html_of(message).lstrip().startswith("<!doctype html>")
        assert 'style="' not in html_of(message)
        assert "<script" not in html_of(message)


def test_without_a_clinic_email_a_cancellation_is_published_as_cancelled(
    smtp, book, after_commit, staff, clinic
):
    clinic.email = ""
    clinic.save()
    appointment = book(next_monday_at(10))
    after_commit(appointment.confirm, by=staff)
    after_commit(appointment.cancel)
    patient = smtp.only_message(
        Subject=f"Your appointment is cancelled ({appointment.reference}) · Test Clinic"
    )
    assert patient["Reply-To"] is None
    assert "reply to this email" not in text_of(patient)
    calendar, event = parsed_event(patient)
    assert str(calendar["method"]) == "PUBLISH"
    assert str(event["status"]) == "CANCELLED"
    assert "organizer" not in event


def test_an_appointment_staff_book_as_confirmed_sends_the_confirmation_only(
    smtp, service, practitioner, staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        appointment = Appointment(
            service=service,
            practitioner=practitioner,
            start=next_monday_at(10),
            status=Appointment.Status.CONFIRMED,
            first_name="Ada",
            last_name="Lovelace",
            email=PATIENT,
            phone="+12125550123",
            channel=Appointment.Channel.STAFF,
            created_by=staff,
        ).book(by=staff)
    (message,) = smtp.messages
    assert message["Subject"] == (
        f"Your appointment is confirmed ({appointment.reference}) · Test Clinic"
    )
    assert calendar_files(message)


def test_a_call_by_phone_is_never_described_as_a_visit(
    smtp, book, after_commit, staff, short_service, client
):
    """A patient told "where" and "seeing you" for a phone chat could travel to the clinic."""
    short_service.by_phone = True
    short_service.save()
    appointment = book(next_monday_at(10), service=short_service, phone="+12125550187")
    after_commit(appointment.confirm, by=staff)
    moved = after_commit(
        Appointment.objects.get(pk=appointment.pk).reschedule, next_monday_at(11), by=staff
    )

    def to_patient(subject):
        (message,) = [m for m in smtp.messages_to(PATIENT) if subject in m["Subject"]]
        return message

    for subject in ("We received your request", "is confirmed", "has a new time"):
        message = to_patient(subject)
        for body in (text_of(message), html_of(message)):
            assert "Maya Chen, L.Ac. will call you on your number ending 0187" in body
            assert "Where" not in body
            assert "seeing you" not in body and "cannot come" not in body
    _, event = parsed_event(to_patient("has a new time"))
    assert str(event["summary"]) == "Phone call: Phone chat, Test Clinic"
    assert "location" not in event
    assert "will call you on the number you gave us" in str(event["description"])
    assert "0187" not in event.to_ical().decode()
    staff_notice = text_of(smtp.only_message(To=STAFF))
    assert "How: by phone (call the patient: the number is in the admin)" in staff_notice
    assert "0187" not in staff_notice

    page = client.get(moved.patient_url).content.decode()
    assert "will call you at the time above, on the number you gave us" in page
    assert "0187" not in page  # the patient's page shows no contact details
    assert "loose, comfortable clothing" not in page


def test_a_cancelled_call_is_not_promised_on_the_patients_page(
    book, after_commit, staff, short_service, client
):
    short_service.by_phone = True
    short_service.save()
    appointment = book(next_monday_at(10), service=short_service, phone="+12125550187")
    after_commit(appointment.cancel, by=staff, note="Maya is ill.")
    page = client.get(appointment.patient_url).content.decode()
    assert "By phone" in page
    assert "will call you" not in page
