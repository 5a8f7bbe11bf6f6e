"""Names, addresses and messages can never add or change an email's headers."""

from booking.models import OutgoingEmail

from .conftest import next_monday_at

INJECTED = "\r\nBcc: victim@example.org\r\nX-Injected: yes\nSubject: Win a prize\r\n\r\nspam"
EXPECTED_HEADERS = {
    "Subject",
    "From",
    "To",
    "Reply-To",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
}


def test_line_breaks_in_every_patient_field_add_no_header(smtp, book, after_commit, staff):
    appointment = book(
        next_monday_at(10),
        first_name="Ada" + INJECTED,
        last_name="Lovelace" + INJECTED,
        phone="+1\r\nBcc: victim@example.org",  # the field holds 32 characters
        message="Hello" + INJECTED,
    )
    after_commit(appointment.confirm, by=staff, note="See you" + INJECTED)
    after_commit(appointment.cancel)
    # Received, new request, confirmed, cancelled, and the staff notice of the cancellation.
    assert len(smtp.messages) == 5
    for envelope in smtp.envelopes:
        assert "victim@example.org" not in envelope.rcpt_tos
    for message in smtp.messages:
        assert set(message.keys()) <= EXPECTED_HEADERS
        assert message.get_all("Subject") == [message["Subject"]]
        assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
        assert not message["Subject"].startswith("Win")
        assert message["To"] in {"ada@example.com", "front-desk@clinic.test"}
    (notice, _) = smtp.messages_to("front-desk@clinic.test")
    assert notice["Subject"] == (
        f"New request {appointment.reference} from Ada Bcc: victim@example.org "
        "X-Injected: yes Subject: Win a prize spam · Test Clinic"
    )


def test_a_patient_address_with_a_line_break_is_never_sent_to(smtp, book):
    book(next_monday_at(10), email="ada@example.com\r\nBcc: victim@example.org")
    patient = OutgoingEmail.objects.get(kind="request_received")
    assert patient.status == "failed"
    assert patient.attempts == 0
    assert patient.last_error == "Not a valid email address; not sent."
    assert [e.rcpt_tos for e in smtp.envelopes] == [["front-desk@clinic.test"]]
