"""Staff see each appointment's emails and what became of them, and can send one again."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from booking import emails
from booking.models import OutgoingEmail

from .conftest import next_monday_at

OUTBOX = "admin:booking_outgoingemail_changelist"


def signed_in(username, group):
    user = User.objects.create_user(username, f"{username}@example.com", "a-long-password-1")
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return user, client


@pytest.fixture
def front_desk_client(db):
    return signed_in("frontdesk", "Front desk")[1]


@pytest.fixture
def practitioner_client(practitioner):
    user, client = signed_in("maya", "Practitioner")
    practitioner.user = user
    practitioner.save()
    return client


def appointment_page(client, appointment):
    response = client.get(reverse("admin:booking_appointment_change", args=[appointment.pk]))
    assert response.status_code == 200
    return response.content.decode()


def email_page(email):
    return reverse("admin:booking_outgoingemail_change", args=[email.pk])


def messages_after(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_the_appointment_page_lists_its_emails_and_their_state(smtp_down, book, front_desk_client):
    appointment = book(next_monday_at(10))
    page = appointment_page(front_desk_client, appointment)
    assert "Request received (patient)" in page
    assert "Not sent yet; next try" in page
    assert "ConnectionRefusedError" in page
    assert "New request (staff)" in page
    assert "Waiting to be sent" in page
    patient_email = OutgoingEmail.objects.get(kind="request_received")
    assert email_page(patient_email) in page


def test_an_interrupted_send_is_shown_to_staff_as_uncertain(smtp, book, front_desk_client):
    appointment = book(next_monday_at(10))
    OutgoingEmail.objects.filter(kind="request_received").update(
        status="sending", claimed_at=timezone.now() - timedelta(hours=2)
    )
    page = appointment_page(front_desk_client, appointment)
    assert "Interrupted while being sent" in page
    assert "it may not have arrived" in page
    needs_attention = front_desk_client.get(reverse(OUTBOX), {"state": "attention"})
    assert appointment.reference in needs_attention.content.decode()


def test_staff_send_an_email_again_from_its_page(smtp, book, front_desk_client):
    book(next_monday_at(10))
    email = OutgoingEmail.objects.get(kind="request_received")
    page = front_desk_client.get(email_page(email)).content.decode()
    assert "Send this email again" in page
    assert "Hello Ada,<br>" in page  # the message as it was sent
    response = front_desk_client.post(email_page(email), {"_resend": "1"})
    assert response.status_code == 302
    assert messages_after(response) == ["1 email sent again."]
    assert [m["To"] for m in smtp.messages].count("ada@example.com") == 2
    assert OutgoingEmail.objects.filter(kind="request_received", status="sent").count() == 2


def test_the_resend_action_retries_failed_emails_and_reports(smtp_down, book, front_desk_client):
    book(next_monday_at(10))
    OutgoingEmail.objects.update(status="failed", attempts=10, last_error="Timeout")
    failed = list(OutgoingEmail.objects.all())
    listing = front_desk_client.get(reverse(OUTBOX), {"state": "attention"}).content.decode()
    assert "Gave up after 10 attempts: Timeout" in listing
    smtp_down.start()
    response = front_desk_client.post(
        reverse(OUTBOX),
        {
            "action": "resend_selected",
            "index": "0",
            "_selected_action": [str(e.pk) for e in failed],
        },
    )
    assert messages_after(response) == ["2 emails sent again."]
    assert len(smtp_down.messages) == 2
    assert set(OutgoingEmail.objects.values_list("status", flat=True)) == {"sent"}


def test_a_resend_that_fails_again_says_so_and_stays_queued(smtp_down, book, front_desk_client):
    book(next_monday_at(10))
    email = OutgoingEmail.objects.get(kind="request_received")
    OutgoingEmail.objects.filter(pk=email.pk).update(status="failed")
    assert "Try sending it again" in front_desk_client.get(email_page(email)).content.decode()
    response = front_desk_client.post(email_page(email), {"_resend": "1"})
    assert messages_after(response) == [
        "1 email could not be sent now: they stay in the queue and are retried automatically."
    ]
    email.refresh_from_db()
    assert email.status == "pending"


def test_a_resend_refused_for_good_says_so_not_that_it_is_queued(smtp, book, front_desk_client):
    smtp.refused = {"nobody@example.com"}
    book(next_monday_at(10), email="nobody@example.com")
    email = OutgoingEmail.objects.get(kind="request_received")
    assert email.status == "failed"  # 550: given up at once

    response = front_desk_client.post(email_page(email), {"_resend": "1"})

    assert messages_after(response) == [
        "1 email could not be sent and will not be retried (the mail server refused it, or "
        "it no longer holds): see the reason on its page; if the address is wrong, call the "
        "patient."
    ]
    email.refresh_from_db()
    assert email.status == "failed"
    assert "550" in email.last_error


def test_an_email_is_a_record_staff_cannot_edit_or_delete(smtp, book, front_desk_client):
    book(next_monday_at(10))
    email = OutgoingEmail.objects.get(kind="request_received")
    page = front_desk_client.get(email_page(email)).content.decode()
    assert 'name="_save"' not in page
    response = front_desk_client.post(email_page(email), {"subject": "Changed"})
    assert response.status_code == 403
    delete = reverse("admin:booking_outgoingemail_delete", args=[email.pk])
    assert front_desk_client.post(delete, {"post": "yes"}).status_code == 403
    assert OutgoingEmail.objects.get(pk=email.pk).subject.startswith("We received")


def test_practitioners_see_their_appointments_emails_but_not_the_outbox(
    smtp, book, practitioner_client
):
    appointment = book(next_monday_at(10))
    page = appointment_page(practitioner_client, appointment)
    assert "Request received (patient)" in page
    email = OutgoingEmail.objects.get(kind="request_received")
    assert email_page(email) not in page
    assert practitioner_client.get(reverse(OUTBOX)).status_code == 403
    assert practitioner_client.get(email_page(email)).status_code == 403
    assert practitioner_client.post(email_page(email), {"_resend": "1"}).status_code == 403
    assert len(smtp.messages) == 2


def test_the_outbox_list_searches_by_reference(smtp, book, front_desk_client):
    first = book(next_monday_at(10))
    second = book(next_monday_at(14), email="grace@example.com")
    listing = front_desk_client.get(reverse(OUTBOX), {"q": second.reference}).content.decode()
    assert second.reference in listing
    assert first.reference not in listing
    assert "grace@example.com" in listing


SKIPPED_OUTDATED = "1 email skipped: it no longer holds (the appointment has changed since)."


def subjects(messages):
    """Their subjects, without the clinic's name that ends each."""
    return [message["Subject"].split(" · ")[0] for message in messages]


def resend_action(client, *rows):
    return client.post(
        reverse(OUTBOX),
        {
            "action": "resend_selected",
            "index": "0",
            "_selected_action": [str(email.pk) for email in rows],
        },
    )


def test_an_email_that_no_longer_holds_is_not_sent_again(
    smtp, confirmed, after_commit, staff, front_desk_client
):
    """A confirmation resent after the cancellation would tell the patient to come."""
    appointment = confirmed()
    after_commit(appointment.cancel, by=staff)
    confirmation = OutgoingEmail.objects.get(kind="confirmed")
    cancellation = OutgoingEmail.objects.get(kind="cancelled")
    sent_before = len(smtp.messages)

    page = front_desk_client.get(email_page(confirmation)).content.decode()
    assert "Send this email again" not in page
    assert "Not to be sent again: the appointment is cancelled now." in page
    # Sent anyway (an old tab), and through the list with one that still holds.
    response = front_desk_client.post(email_page(confirmation), {"_resend": "1"})
    assert messages_after(response) == [SKIPPED_OUTDATED]
    front_desk_client.get(response.url)  # the page that shows that message
    response = resend_action(front_desk_client, confirmation, cancellation)
    assert messages_after(response) == ["1 email sent again.", SKIPPED_OUTDATED]
    assert subjects(smtp.messages[sent_before:]) == [
        f"Your appointment is cancelled ({appointment.reference})"
    ]


def test_an_email_written_before_a_move_is_not_sent_again(
    smtp, confirmed, after_commit, staff, front_desk_client
):
    appointment = confirmed(next_monday_at(10))
    after_commit(appointment.reschedule, next_monday_at(14), by=staff)
    confirmation = OutgoingEmail.objects.get(kind="confirmed")
    move = OutgoingEmail.objects.get(kind="rescheduled")

    page = front_desk_client.get(email_page(confirmation)).content.decode()
    assert "Send this email again" not in page
    assert "Not to be sent again: the appointment was moved after it was written." in page
    assert "Send this email again" in front_desk_client.get(email_page(move)).content.decode()
    sent_before = len(smtp.messages)
    response = resend_action(front_desk_client, confirmation, move)
    assert messages_after(response) == ["1 email sent again.", SKIPPED_OUTDATED]
    assert subjects(smtp.messages[sent_before:]) == [
        f"Your appointment has a new time ({appointment.reference})"
    ]


def test_an_interrupted_email_that_no_longer_holds_is_not_sent_again(
    smtp, confirmed, after_commit, staff, front_desk_client
):
    appointment = confirmed()
    after_commit(appointment.cancel, by=staff)
    confirmation = OutgoingEmail.objects.get(kind="confirmed")
    OutgoingEmail.objects.filter(pk=confirmation.pk).update(
        status="sending", claimed_at=timezone.now() - timedelta(hours=2)
    )
    response = resend_action(front_desk_client, confirmation)
    assert messages_after(response) == [SKIPPED_OUTDATED]


def test_whether_each_email_may_go_again_is_read_in_one_query(
    smtp, confirmed, after_commit, staff, django_assert_num_queries
):
    for hour in (9, 11, 13):
        appointment = confirmed(next_monday_at(hour))
        after_commit(appointment.reschedule, next_monday_at(hour, 30), by=staff)
    with django_assert_num_queries(1):
        refusals = dict(emails.resend_refusals(OutgoingEmail.objects.all()))
    moved = "the appointment was moved after it was written."
    confirmed_now = "the appointment is confirmed now."
    refused = sorted((email.kind, refusal) for email, refusal in refusals.items() if refusal)
    assert refused == [
        *[("confirmed", moved)] * 3,
        *[("request_received", confirmed_now)] * 3,
        *[("staff_new_request", confirmed_now)] * 3,
    ]


def test_staff_who_find_an_interrupted_email_arrived_can_say_so(smtp, book, front_desk_client):
    """The patient confirms on the phone that it came: staff close it, and cron stops
    asking about it. Only an interrupted email can be closed this way."""
    book(next_monday_at(10))
    interrupted = OutgoingEmail.objects.get(kind="request_received")
    waiting = OutgoingEmail.objects.get(kind="staff_new_request")
    OutgoingEmail.objects.filter(pk=interrupted.pk).update(
        status="sending", claimed_at=timezone.now() - timedelta(hours=2)
    )
    response = front_desk_client.post(
        reverse(OUTBOX),
        {
            "action": "do_not_send_again",
            "index": "0",
            "_selected_action": [str(interrupted.pk), str(waiting.pk)],
        },
    )
    assert messages_after(response) == [
        "1 email closed: it will not be sent again.",
        "1 email skipped: only an email interrupted while being sent can be closed.",
    ]
    interrupted.refresh_from_db()
    assert interrupted.status == "closed"
    assert interrupted.last_error == (
        "Interrupted while being sent; closed by frontdesk, who chose not to send it again."
    )
    assert not emails.stuck().exists()
    waiting.refresh_from_db()
    assert waiting.status == "sent"
    # Closed: it needs nobody's attention any more, and says what became of it.
    needs_attention = front_desk_client.get(reverse(OUTBOX), {"state": "attention"})
    assert interrupted.appointment.reference not in needs_attention.content.decode()
    page = front_desk_client.get(email_page(interrupted)).content.decode()
    assert "Closed, not sent again. Interrupted while being sent; closed by frontdesk" in page


def test_emails_that_no_longer_hold_do_not_need_attention(
    smtp_down, book, after_commit, staff, front_desk_client
):
    smtp_down.refused = {"nobody@example.com"}
    appointment = book(next_monday_at(10))  # the mail server is down: both emails wait
    after_commit(appointment.confirm, by=staff)
    smtp_down.start()
    book(next_monday_at(14), email="nobody@example.com")  # its request_received: a 550
    OutgoingEmail.objects.update(next_attempt_at=timezone.now())

    emails.send_due()  # the confirmation goes; "we received your request" no longer holds

    dropped = OutgoingEmail.objects.filter(appointment=appointment, kind="request_received")
    assert dropped.get().last_error == "Not sent: the appointment is confirmed now."
    listing = front_desk_client.get(reverse(OUTBOX), {"state": "attention"}).text
    assert appointment.reference not in listing  # nothing anyone can or need do about it
    assert "nobody@example.com" in listing  # but a refused address is for staff to follow up
