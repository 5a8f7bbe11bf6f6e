"""The patient's link: only the signed token works, a wrong one says nothing about anyone,
and the page behind it shows the least it can and is never kept or passed on.

tests/booking/test_request_page.py covers a tampered signature, a wrong reference, another
salt, a bare id and the reference; these add the forgeries an attacker tries next.
"""

import secrets

import pytest
from django.core import signing
from django.urls import reverse

from booking.forms import issue_form_token
from booking.models import Appointment, OutgoingEmail
from tests.booking.conftest import local

PRIVATE = ["Lovelace", "ada.lovelace@example", "2125550123", "555-0123", "left leg", "Sciatica"]


@pytest.fixture
def ada(make_appointment, monday):
    return make_appointment(
        local(monday, 10),
        first_name="Ada",
        last_name="Lovelace",
        email="ada.lovelace@example.com",
        phone="+12125550123",
        message="Pain shoots down my left leg.",
    )


@pytest.fixture
def grace(make_appointment, monday):
    return make_appointment(
        local(monday, 14), first_name="Grace", last_name="Hopper", email="grace@example.com"
    )


FORGERIES = {
    "random": lambda a, g: secrets.token_urlsafe(32),
    "random-signed-shape": lambda a, g: f"{secrets.token_urlsafe(16)}:{secrets.token_urlsafe(27)}",
    "next-id": lambda a, g: Appointment.token_signer().sign_object(
        {"id": g.pk, "ref": a.reference}
    ),
    # Another request's payload under this one's signature.
    "swapped-payload": lambda a, g: g.token.rsplit(":", 1)[0] + ":" + a.token.rsplit(":", 1)[1],
    "id-as-sql": lambda a, g: Appointment.token_signer().sign_object(
        {"id": f"{a.pk} OR 1=1", "ref": a.reference}
    ),
    "form-token": lambda a, g: issue_form_token(),
    "timestamped": lambda a, g: signing.TimestampSigner(salt=Appointment.TOKEN_SALT).sign_object(
        {"id": a.pk, "ref": a.reference}
    ),
    "unsigned-payload": lambda a, g: a.token.rsplit(":", 1)[0],
    "very-long": lambda a, g: a.token + "A" * 5000,
    "other-key": lambda a, g: signing.Signer(key="x" * 50, salt=Appointment.TOKEN_SALT).sign_object(
        {"id": a.pk, "ref": a.reference}
    ),
    "unicode": lambda a, g: "ﬀ" + a.token,
    "dots": lambda a, g: "..",
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_a_forged_token_is_not_found_and_names_no_one(client, ada, grace, forge):
    token = forge(ada, grace)
    for name in ("booking:request-detail", "booking:request-cancel"):
        response = client.get(reverse(name, args=[token]))
        assert response.status_code == 404, name
        html = response.content.decode()
        for private in ("Ada", "Grace", "Hopper", ada.reference, grace.reference, *PRIVATE):
            assert private not in html, (name, private)
    cancel = client.post(reverse("booking:request-cancel", args=[token]), {"confirm": "yes"})
    assert cancel.status_code == 404
    assert Appointment.objects.active().count() == 2


def test_each_patient_reaches_only_their_own_request(client, ada, grace):
    assert "Grace" not in client.get(ada.patient_url).content.decode()
    client.post(reverse("booking:request-cancel", args=[ada.token]), {"confirm": "yes"})
    grace.refresh_from_db()
    assert grace.status == Appointment.Status.REQUESTED


@pytest.mark.parametrize("step", ["decline", "confirm", None])
def test_cancelling_again_or_after_staff_acted_is_a_harmless_no_op(client, ada, step):
    cancel = reverse("booking:request-cancel", args=[ada.token])
    if step:
        getattr(ada, step)()
    client.post(cancel, {"confirm": "yes"})
    ada.refresh_from_db()
    status, emails, changes = ada.status, OutgoingEmail.objects.count(), ada.changes.count()
    for _ in range(3):
        response = client.post(cancel, {"confirm": "yes"})
        assert response.status_code == 200
    ada.refresh_from_db()
    assert (ada.status, OutgoingEmail.objects.count(), ada.changes.count()) == (
        status,
        emails,
        changes,
    )
    if step == "decline":
        assert status == Appointment.Status.DECLINED


def test_the_request_and_cancel_pages_show_no_more_than_the_patient_needs(client, ada):
    for url in (ada.patient_url, reverse("booking:request-cancel", args=[ada.token])):
        html = client.get(url).content.decode()
        assert ada.reference in html
        for private in PRIVATE:
            assert private not in html, (url, private)
    ada.confirm()
    html = client.get(ada.patient_url).content.decode()
    assert not [private for private in PRIVATE if private in html]


def test_the_confirmation_page_after_booking_shows_no_contact_details(client, request_data):
    response = client.post("/book/", request_data(email="ada.lovelace@example.com"))
    html = client.get(response.url).content.decode()
    for private in ("Lovelace", "ada.lovelace@example", "555-0123", "2125550123", "mornings"):
        assert private not in html


def test_patient_pages_keep_the_token_out_of_other_sites_logs(client, ada, clinic):
    clinic.map_url = "https://maps.example.com/clinic"
    clinic.save()
    for url in (ada.patient_url, reverse("booking:request-cancel", args=[ada.token])):
        response = client.get(url)
        assert response["Referrer-Policy"] == "same-origin"
        assert 'name="robots" content="noindex' in response.content.decode()


def test_every_patient_answer_is_never_stored_by_a_cache(client, ada):
    cancel = reverse("booking:request-cancel", args=[ada.token])
    responses = [
        client.get(ada.patient_url),
        client.head(ada.patient_url),
        client.get(cancel),
        client.post(cancel),
        client.post(cancel, {"confirm": "yes"}),
        client.get(ada.patient_url),  # cancelled
        client.get("/book/received/"),
    ]
    for response in responses:
        assert "no-store" in response["Cache-Control"], response.request["PATH_INFO"]
        assert "private" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]


def test_only_the_patients_own_email_carries_their_link(client, ada):
    # Whoever reads the front desk's mailbox has no need of the patient's key.
    client.post(reverse("booking:request-cancel", args=[ada.token]), {"confirm": "yes"})
    received = OutgoingEmail.objects.get(kind=OutgoingEmail.Kind.REQUEST_RECEIVED)
    assert ada.token in received.body_text and ada.token in received.body_html
    staff = OutgoingEmail.objects.filter(kind__in=["staff_new_request", "staff_cancelled"])
    assert staff.count() == 2
    for email in staff:
        assert ada.token not in email.body_text + email.body_html + email.subject
