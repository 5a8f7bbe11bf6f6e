"""A double click or a resubmitted form books once."""

from booking.models import Appointment
from tests.booking.conftest import local

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
