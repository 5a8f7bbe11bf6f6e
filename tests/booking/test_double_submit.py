"""A double click or a resubmitted form books once."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from booking.models import Appointment
from tests.booking.conftest import local, page

BOOK = "/book/"


def test_sending_the_same_form_twice_books_once(client, request_data):
    data = request_data()
    first = client.post(BOOK, data)
    second = client.post(BOOK, data)
    assert first.status_code == second.status_code == 302
    assert first.url == second.url
    assert Appointment.objects.count() == 1
    assert Appointment.objects.get().changes.count() == 1


def test_a_resubmitted_form_with_another_time_still_books_once(client, request_data, monday):
    data = request_data()
    first = client.post(BOOK, data)
    data["slot"] = local(monday, 14).isoformat()
    again = client.post(BOOK, data)
    assert again.url == first.url
    assert Appointment.objects.count() == 1


def test_two_forms_book_two_requests(client, request_data, monday):
    client.post(BOOK, request_data())
    client.post(BOOK, request_data(slot=local(monday, 14).isoformat(), email="b@example.com"))
    assert Appointment.objects.count() == 2


def test_a_refused_form_can_be_corrected_and_sent_again(client, request_data):
    data = request_data(phone="nope")
    assert client.post(BOOK, data).status_code == 200
    data["phone"] = "212 555 0123"
    assert client.post(BOOK, data).status_code == 302
    assert Appointment.objects.count() == 1


def filled_in(client, monday, seconds_pass):
    """The form as the site serves it for Monday, filled in as a patient would, 10 s later."""
    served = page(client.get(BOOK, {"day": monday.isoformat()}))
    data = dict(served.fields)
    data.update(
        slot=served.options["slot"][0],
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone="(212) 555-0123",
        concern="sciatica",
        consent="on",
    )
    seconds_pass(10)
    return data


def test_a_double_click_on_the_served_form_books_once(
    client, service, practitioner, monday, seconds_pass
):
    data = filled_in(client, monday, seconds_pass)
    first, second = client.post(BOOK, data), client.post(BOOK, data)
    assert first.status_code == second.status_code == 302
    assert second.url == first.url  # both clicks land on the one request's page
    assert Appointment.objects.count() == 1
    assert client.get(first.url).status_code == 200


def test_going_back_and_sending_the_form_again_books_once(
    client, service, practitioner, monday, seconds_pass
):
    data = filled_in(client, monday, seconds_pass)
    first = client.post(BOOK, data)
    # Back to the form (the browser keeps what was typed and the served token), another
    # time chosen, sent again; or the browser's "resend" of the same POST.
    later = dict(data, slot=local(monday, 15).isoformat())
    again = client.post(BOOK, later)
    resent = client.post(BOOK, data)
    assert again.url == resent.url == first.url
    assert Appointment.objects.count() == 1
    assert Appointment.objects.get().changes.count() == 1


def test_a_fresh_form_after_booking_books_a_second_request(
    client, service, practitioner, monday, seconds_pass
):
    client.post(BOOK, filled_in(client, monday, seconds_pass))
    second = filled_in(client, monday, seconds_pass)  # the form served again, a new token
    second["email"] = "grace@example.com"
    assert client.post(BOOK, second).status_code == 302
    assert Appointment.objects.count() == 2


# Back after booking reloads the form (it is never cached) with a new token, and the
# browser fills in what was typed again, even the time button at the same place in the
# list: now another time, since the first is taken. The same browser sending the same
# patient's request again within the hour is shown the request it made.


def sent_again_after_back(client, monday, seconds_pass, **changes):
    """The form reloaded by Back, refilled by the browser, another time ticked, sent."""
    data = filled_in(client, monday, seconds_pass)
    data.update(changes)
    return client.post(BOOK, data, follow=True)


def test_back_and_send_again_shows_the_request_already_made(
    client, service, practitioner, monday, seconds_pass
):
    first = client.post(BOOK, filled_in(client, monday, seconds_pass))
    again = sent_again_after_back(client, monday, seconds_pass, email="ADA@example.com ")
    assert Appointment.objects.count() == 1
    assert again.redirect_chain[-1][0] == first.url
    assert "You have already sent this request" in again.text


@pytest.mark.parametrize("second", ["another treatment", "another day"])
def test_a_second_request_of_its_own_from_the_same_browser_is_booked(
    client, service, short_service, practitioner, monday, seconds_pass, second
):
    first = client.post(BOOK, filled_in(client, monday, seconds_pass))
    # A fresh form, the same patient: the phone chat as well, or a second visit on Thursday.
    day = monday if second == "another treatment" else monday + timedelta(days=3)
    chosen = short_service if second == "another treatment" else service
    served = page(client.get(BOOK, {"service": chosen.slug, "day": day.isoformat()}))
    patient = filled_in(client, monday, seconds_pass)
    data = dict(served.fields, slot=served.options["slot"][-1])
    data.update({k: patient[k] for k in ("first_name", "last_name", "email", "phone", "concern")})
    data["consent"] = "on"
    response = client.post(BOOK, data, follow=True)
    assert "You have already sent this request" not in response.text
    assert response.redirect_chain[-1][0] != first.url
    assert Appointment.objects.count() == 2
    assert {(a.service, timezone.localdate(a.start)) for a in Appointment.objects.all()} == {
        (service, monday),
        (chosen, day),
    }


@pytest.mark.parametrize("slot", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+05:00"])
def test_a_time_at_the_end_of_the_calendar_after_a_request_is_refused_not_a_500(
    client, service, practitioner, monday, seconds_pass, slot
):
    client.post(BOOK, filled_in(client, monday, seconds_pass))
    again = dict(filled_in(client, monday, seconds_pass), slot=slot)
    response = client.post(BOOK, again)
    assert response.status_code == 200
    assert "Choose one of the times listed." in response.text
    assert Appointment.objects.count() == 1


@pytest.mark.parametrize("name", ["Ada\u200b", "A\u00adda", "Ada \u200b"])
def test_back_and_send_again_is_recognised_whatever_invisible_characters_came_along(
    client, service, practitioner, monday, seconds_pass, name
):
    first = client.post(BOOK, dict(filled_in(client, monday, seconds_pass), first_name=name))
    again = sent_again_after_back(client, monday, seconds_pass, first_name=name)
    assert Appointment.objects.count() == 1
    assert again.redirect_chain[-1][0] == first.url


def test_the_same_request_from_a_second_tab_is_not_told_its_time_was_taken(
    client, service, practitioner, monday, seconds_pass
):
    one, two = filled_in(client, monday, seconds_pass), filled_in(client, monday, seconds_pass)
    first = client.post(BOOK, one)
    second = client.post(BOOK, two, follow=True)  # the same time, from the other tab
    assert Appointment.objects.count() == 1
    assert second.redirect_chain[-1][0] == first.url
    assert "just been taken" not in second.text


def test_back_and_send_again_within_three_seconds_is_not_thanked_for_nothing(
    client, service, practitioner, monday, seconds_pass
):
    first = client.post(BOOK, filled_in(client, monday, seconds_pass))
    served = page(client.get(BOOK, {"day": monday.isoformat()}))
    data = dict(filled_in(client, monday, seconds_pass), form_token=served.fields["form_token"])
    again = client.post(BOOK, data)  # at once: the browser had refilled everything
    assert again.url == first.url


def test_someone_else_booked_from_the_same_browser_gets_their_own_request(
    client, service, practitioner, monday, seconds_pass
):
    client.post(BOOK, filled_in(client, monday, seconds_pass))
    sent_again_after_back(client, monday, seconds_pass, first_name="Byron")
    assert Appointment.objects.count() == 2


def test_another_browser_never_reaches_a_request_by_typing_its_patients_details(
    client, service, practitioner, monday, seconds_pass
):
    from django.test import Client

    first = client.post(BOOK, filled_in(client, monday, seconds_pass))
    stranger = Client()
    response = stranger.post(BOOK, filled_in(stranger, monday, seconds_pass))
    assert response.status_code == 302
    assert response.url != first.url
    assert Appointment.objects.count() == 2


def test_after_cancelling_the_same_browser_can_request_again(
    client, service, practitioner, monday, seconds_pass
):
    client.post(BOOK, filled_in(client, monday, seconds_pass))
    Appointment.objects.get().cancel()
    again = sent_again_after_back(client, monday, seconds_pass)
    assert again.status_code == 200
    assert Appointment.objects.active().count() == 1


# Without JavaScript, a form shown again (a mistake, a time just taken) offers its
# treatments, practitioners and days as buttons that send it back with what was typed:
# links would load a blank form.


def test_choosing_another_day_after_a_mistake_keeps_what_was_typed(
    client, service, practitioner, monday, seconds_pass
):
    data = filled_in(client, monday, seconds_pass)
    mistaken = client.post(BOOK, dict(data, email="ada@"))
    assert mistaken.status_code == 200
    day_buttons = re.findall(r'<button[^>]*name="choose" value="day=([0-9-]+)"', mistaken.text)
    tuesday = (monday + timedelta(days=1)).isoformat()
    assert tuesday in day_buttons
    again = client.post(BOOK, dict(data, email="ada@", choose=f"day={tuesday}"))
    assert again.status_code == 200
    shown = page(again)
    assert shown.fields["first_name"] == "Ada"
    assert shown.fields["email"] == "ada@"
    assert shown.fields["consent"] == "on"
    assert shown.fields["form_token"] == data["form_token"]  # still the form first served
    assert "slot" not in shown.fields  # a time of the new day is to be chosen
    assert all(v.startswith(tuesday) for v in shown.options["slot"])
    assert "invalid-feedback" not in again.text  # nothing was sent to be checked
    assert not Appointment.objects.exists()


def test_choosing_another_practitioner_after_a_taken_time_keeps_what_was_typed(
    client, service, practitioner, other_practitioner, monday, seconds_pass
):
    data = filled_in(client, monday, seconds_pass)
    choice = f"practitioner={other_practitioner.slug}"
    shown = page(client.post(BOOK, dict(data, choose=choice)))
    assert shown.fields["last_name"] == "Lovelace"
    assert shown.fields["practitioner"] == other_practitioner.slug
    assert not Appointment.objects.exists()


def test_a_made_up_choice_is_shown_as_the_form_again(
    client, service, practitioner, monday, seconds_pass
):
    data = filled_in(client, monday, seconds_pass)
    response = client.post(BOOK, dict(data, choose="website=http://spam.example"))
    assert response.status_code == 200
    assert not Appointment.objects.exists()
    assert "spam.example" not in response.text


def test_a_blank_form_offers_links_not_buttons(client, service, practitioner):
    html = client.get(BOOK).text
    assert 'name="choose"' not in html
    assert 'class="day' in html
