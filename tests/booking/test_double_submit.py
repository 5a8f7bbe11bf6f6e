"""A double click or a resubmitted form books once."""

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
