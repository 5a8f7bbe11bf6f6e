"""The patient's own page for a request, /book/request/<token>/, and cancelling from it."""

from datetime import timedelta

import pytest
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from booking.availability import check_slot
from booking.models import Appointment
from tests.booking.conftest import local


def cancel_url(appointment):
    return reverse("booking:request-cancel", args=[appointment.token])


def test_request_page_shows_what_the_patient_needs(client, booked, monday):
    response = client.get(booked.patient_url)
    assert response.status_code == 200
    html = response.content.decode()
    assert booked.reference in html
    assert "Requested, waiting for our confirmation" in html
    assert "Initial consultation and treatment (75 minutes)" in html
    assert "Maya Chen, L.Ac." in html
    assert f"{monday:%A, %B} {monday.day}, {monday.year}" in html
    assert "10:00 AM to 11:15 AM" in html  # clinic time, not UTC
    assert "What happens next" in html
    assert "Cancel this request…" in html  # not confirmed yet
    # Until when, as the emails say it (the clinic's notice is 24 real hours).
    until = timezone.localtime(booked.start - timedelta(hours=24))
    assert f"You can cancel online until {until:%A, %B} {until.day} at {until:%-I:%M %p}" in html


def test_request_page_shows_no_personal_data_beyond_the_first_name(client, booked):
    html = client.get(booked.patient_url).content.decode()
    for private in ("Lovelace", "ada.lovelace@example", "2125550123", "left leg", "Sciatica"):
        assert private not in html


def test_patient_pages_are_never_stored_by_caches(client, booked):
    for url in (booked.patient_url, cancel_url(booked)):
        response = client.get(url)
        assert "no-store" in response["Cache-Control"]
        assert 'name="robots" content="noindex' in response.content.decode()


@pytest.mark.parametrize(
    "token",
    [
        lambda a: a.token[:-1] + ("A" if a.token[-1] != "A" else "B"),  # altered signature
        lambda a: Appointment.token_signer().sign_object({"id": a.pk, "ref": "WRONGREF"}),
        lambda a: signing.Signer(salt="another.purpose").sign_object(
            {"id": a.pk, "ref": a.reference}
        ),
        lambda a: str(a.pk),  # a sequential id never works
        lambda a: a.reference,
    ],
)
def test_a_tampered_or_guessed_token_is_not_found(client, booked, token):
    forged = token(booked)
    assert client.get(reverse("booking:request-detail", args=[forged])).status_code == 404
    assert client.post(reverse("booking:request-cancel", args=[forged])).status_code == 404


def test_the_token_of_a_deleted_request_is_not_found(client, booked):
    url = booked.patient_url
    booked.delete()
    assert client.get(url).status_code == 404


def test_cancelling_asks_first(client, booked):
    response = client.post(cancel_url(booked))
    assert response.status_code == 200
    page = response.content.decode()
    # Not confirmed yet: the page calls it what the patient was told it is, a request.
    assert "Cancel your request?" in page
    assert "Yes, cancel my request" in page
    assert "appointment" not in page.split("<h1")[1].split("</form>")[0]
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.REQUESTED


def test_cancelling_a_confirmed_appointment_calls_it_an_appointment(client, booked, admin_user):
    booked.confirm(by=admin_user)
    detail = client.get(booked.patient_url).content.decode()
    assert "<h1>Your appointment</h1>" in detail
    assert "Cancel this appointment…" in detail
    page = client.get(cancel_url(booked)).content.decode()
    assert "Cancel your appointment?" in page
    assert "Yes, cancel my appointment" in page


def test_the_request_page_links_to_the_cancel_page_without_a_form(client, booked):
    # A link, not a form: Back and reload after cancelling never send a form again.
    html = client.get(booked.patient_url).content.decode()
    assert f'<a class="btn btn-outline-danger" href="{cancel_url(booked)}">' in html
    assert "<form" not in html


def test_opening_the_cancel_link_asks_and_changes_nothing(client, booked):
    response = client.get(cancel_url(booked))
    assert response.status_code == 200
    assert "Yes, cancel my request" in response.content.decode()
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.REQUESTED
    assert booked.changes.count() == 1  # the request itself


def test_confirming_cancels_and_frees_the_time_at_once(client, booked, service, monday):
    response = client.post(cancel_url(booked), {"confirm": "yes"})
    assert response.status_code == 302
    assert response.url == booked.patient_url
    booked.refresh_from_db()
    assert booked.status == Appointment.Status.CANCELLED
    change = booked.changes.last()
    assert (change.from_status, change.to_status, change.changed_by) == (
        "requested",
        "cancelled",
        None,
    )
    assert check_slot(service, local(monday, 10), practitioner=booked.practitioner)
    html = client.get(booked.patient_url).content.decode()
    assert "Your request is cancelled. We are emailing you to confirm it." in html  # once
    assert "This request was cancelled, and the time is free again." in html
    assert "What happens next" not in html
    assert "Cancel this " not in html  # neither "request" nor "appointment"
    again = client.get(booked.patient_url).content.decode()
    assert "We are emailing you to confirm it." not in again


def test_cancelling_twice_is_harmless(client, booked):
    client.post(cancel_url(booked), {"confirm": "yes"})
    response = client.post(cancel_url(booked), {"confirm": "yes"})
    assert response.status_code == 200
    assert "nothing to cancel" in response.content.decode()
    assert booked.changes.filter(to_status="cancelled").count() == 1


def test_cancelling_needs_post_with_csrf(booked):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post(cancel_url(booked), {"confirm": "yes"}).status_code == 403
    booked.refresh_from_db()
    assert booked.is_active


def test_inside_the_cancellation_notice_the_patient_is_asked_to_call(
    client, make_appointment, clinic
):
    soon = make_appointment(timezone.now().replace(second=0, microsecond=0) + timedelta(hours=5))
    html = client.get(soon.patient_url).content.decode()
    assert "can no longer be cancelled online" in html
    assert clinic.phone in html
    assert "Cancel this " not in html  # neither "request" nor "appointment"
    response = client.post(cancel_url(soon), {"confirm": "yes"})
    assert clinic.phone in response.content.decode()
    soon.refresh_from_db()
    assert soon.status == Appointment.Status.REQUESTED


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ("confirm", "Your appointment is confirmed."),
        ("decline", "Sorry, we could not offer you this time."),
    ],
)
def test_request_page_follows_the_status(client, booked, change, text):
    getattr(booked, change)()
    assert text in client.get(booked.patient_url).content.decode()


@pytest.mark.parametrize(
    ("finish", "text"),
    [
        ("complete", "This appointment has taken place."),
        ("mark_no_show", "We missed you at this appointment."),
    ],
)
def test_a_past_appointment_page_says_how_it_ended(
    client, booked, finish, text, move_into_the_past
):
    booked.confirm()
    move_into_the_past(booked)
    getattr(booked, finish)()
    html = client.get(booked.patient_url).content.decode()
    assert text in html
    assert "request a consultation" in html


def test_a_declined_request_shows_the_clinics_message_and_offers_the_same_choice(
    client, booked, admin_user
):
    booked.decline(by=admin_user, note="Maya is away that week; Samuel could see you at 11.")
    html = client.get(booked.patient_url).content.decode()
    assert "Maya is away that week; Samuel could see you at 11." in html
    another_time = f"/book/?service={booked.service.slug}&amp;practitioner="
    assert another_time + booked.practitioner.slug in html


def test_a_confirmation_note_stays_with_staff(client, booked, admin_user):
    booked.confirm(by=admin_user, note="Internal: asked for Maya")
    assert "Internal" not in client.get(booked.patient_url).content.decode()


def moved_into_the_past(appointment, hours):
    """The appointment as it stands `hours` after its start (staff have not closed it)."""
    Appointment.objects.filter(pk=appointment.pk).update(
        start=appointment.start - timedelta(hours=hours) - (appointment.start - timezone.now()),
        end=appointment.end - timedelta(hours=hours) - (appointment.start - timezone.now()),
    )
    appointment.refresh_from_db()
    return appointment


def test_a_request_whose_time_passed_unanswered_says_so(client, booked, clinic):
    html = client.get(moved_into_the_past(booked, 3).patient_url).content.decode()
    assert "The time of this request has passed" in html
    assert "We hold this time for you" not in html
    assert "can no longer be cancelled online" not in html
    assert "Cancel this " not in html  # neither "request" nor "appointment"
    assert "/book/?service=" in html  # another time, with the same treatment
    assert clinic.phone in html


def test_a_confirmed_appointment_in_the_past_is_not_looked_forward_to(client, booked):
    booked.confirm()
    html = client.get(moved_into_the_past(booked, 48).patient_url).content.decode()
    assert "The time of this appointment has passed" in html
    assert "We look forward to seeing you" not in html
    assert "can no longer be cancelled online" not in html
    assert "Cannot come?" not in html


def test_the_length_shown_is_the_one_booked_when_the_service_changes_later(client, booked):
    booked.service.duration_minutes = 90
    booked.service.save()
    html = client.get(booked.patient_url).content.decode()
    assert "Initial consultation and treatment (75 minutes)" in html
    assert "10:00 AM to 11:15 AM" in html
