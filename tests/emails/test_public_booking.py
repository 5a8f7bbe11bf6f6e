"""Through the public pages: the booking stands when email fails, and the links in emails work."""

from django.urls import reverse

from booking.models import Appointment, OutgoingEmail


def test_a_patient_who_books_while_email_is_down_sees_their_request_page(
    smtp_down, client, request_form, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("booking:request"), request_form(), follow=True)
    appointment = Appointment.objects.get()
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == appointment.patient_url
    assert appointment.reference in response.content.decode()
    assert set(OutgoingEmail.objects.values_list("status", flat=True)) == {"pending"}
    assert "Connection" in OutgoingEmail.objects.get(kind="request_received").last_error


def test_the_link_in_the_patients_email_opens_their_request(
    smtp, client, request_form, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("booking:request"), request_form())
    appointment = Appointment.objects.get()
    message = smtp.only_message(To="ada@example.com")
    body = message.get_body(("plain",)).get_content()
    link = next(line for line in body.splitlines() if "/book/request/" in line).strip()
    assert link.startswith("https://clinic.test/book/request/")
    page = client.get(link.removeprefix("https://clinic.test"))
    assert page.status_code == 200
    assert appointment.reference in page.content.decode()
    assert smtp.only_message(To="front-desk@clinic.test")


def test_a_patient_who_cancels_through_their_link_is_told_and_so_are_staff(
    smtp, client, request_form, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("booking:request"), request_form())
    appointment = Appointment.objects.get()
    cancel = reverse("booking:request-cancel", args=[appointment.token])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(cancel, {"confirm": "yes"})
    # Never confirmed: a request, in the subject as in the body.
    patient = smtp.only_message(
        Subject=f"Your request is cancelled ({appointment.reference}) · Test Clinic"
    )
    text = patient.get_body(("plain",)).get_content()
    assert "As you asked, we have cancelled your request" in text
    assert "through their link" not in text  # the history's note is for staff
    staff = smtp.only_message(Subject=f"Ada cancelled {appointment.reference} · Test Clinic")
    assert staff["To"] == "front-desk@clinic.test"
