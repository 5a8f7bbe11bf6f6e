"""Status changes from the appointment list and page: through the workflow, reported."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from booking.models import Appointment

Status = Appointment.Status


def messages_after(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_confirm_action_confirms_requests_and_records_who(
    front_desk_client, front_desk, request_at, run_action
):
    first, second = request_at(9), request_at(11)
    response = run_action(front_desk_client, "confirm", [first, second])
    assert response.status_code == 302
    for appointment in (first, second):
        appointment.refresh_from_db()
        assert appointment.status == Status.CONFIRMED
        change = appointment.changes.last()
        assert (change.from_status, change.to_status) == ("requested", "confirmed")
        assert change.changed_by == front_desk
    assert messages_after(response) == [
        f"2 appointments confirmed: {first.reference}, {second.reference}."
    ]


def test_confirm_action_reports_which_were_refused_and_why(
    front_desk_client, request_at, run_action
):
    requested, declined = request_at(9), request_at(11)
    declined.decline()
    response = run_action(front_desk_client, "confirm", [requested, declined])
    declined.refresh_from_db()
    assert declined.status == Status.DECLINED
    assert messages_after(response) == [
        f"1 appointment confirmed: {requested.reference}.",
        f"1 not confirmed: {declined.reference} is declined and cannot become confirmed.",
    ]


def test_confirming_a_request_that_now_overlaps_another_is_refused(
    front_desk_client, request_at, run_action, clinic
):
    earlier = request_at(9)  # 9:00-10:15
    later = request_at(10, 15)  # back to back: allowed without a buffer
    earlier.confirm()
    clinic.buffer_minutes = 15
    clinic.save()
    response = run_action(front_desk_client, "confirm", [later])
    later.refresh_from_db()
    assert later.status == Status.REQUESTED
    assert messages_after(response) == [
        f"1 not confirmed: {later.reference} now overlaps another appointment."
    ]


def test_decline_action_first_asks_for_a_message_to_the_patient(
    front_desk_client, request_at, run_action
):
    appointment = request_at(9)
    response = run_action(front_desk_client, "decline", [appointment])
    assert response.status_code == 200
    html = response.content.decode()
    assert "Decline this request" in html
    assert 'name="note"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    appointment.refresh_from_db()
    assert appointment.status == Status.REQUESTED


def test_decline_with_a_message_declines_and_keeps_the_message(
    front_desk_client, request_at, run_action
):
    appointment = request_at(9)
    note = "We are full that day; could you come on Tuesday at 10?"
    response = run_action(
        front_desk_client, "decline", [appointment], apply="yes", note=note, index=None
    )
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.status == Status.DECLINED
    assert appointment.changes.last().note == note
    assert messages_after(response) == [f"1 appointment declined: {appointment.reference}."]


def test_decline_page_says_which_appointments_will_stay_as_they_are(
    front_desk_client, request_at, run_action
):
    requested, confirmed = request_at(9), request_at(11)
    confirmed.confirm()
    html = run_action(front_desk_client, "decline", [requested, confirmed]).content.decode()
    assert "Will be declined" in html
    assert "a confirmed appointment cannot be declined" in html


def test_cancel_action_cancels_with_a_message_and_refuses_finished_ones(
    front_desk_client, request_at, run_action, move_into_the_past
):
    confirmed, completed = request_at(9), request_at(11)
    confirmed.confirm()
    completed.confirm()
    move_into_the_past(completed)
    completed.complete()
    response = run_action(
        front_desk_client,
        "cancel",
        [confirmed, completed],
        apply="yes",
        note="The practitioner is ill.",
        index=None,
    )
    confirmed.refresh_from_db()
    completed.refresh_from_db()
    assert confirmed.status == Status.CANCELLED
    assert confirmed.changes.last().note == "The practitioner is ill."
    assert completed.status == Status.COMPLETED
    assert messages_after(response) == [
        f"1 appointment cancelled: {confirmed.reference}.",
        f"1 not cancelled: {completed.reference} is completed and cannot become cancelled.",
    ]


def test_complete_and_no_show_actions_need_a_confirmed_appointment(
    front_desk_client, request_at, run_action, move_into_the_past
):
    came, stayed_away, still_requested = request_at(9), request_at(11), request_at(13)
    came.confirm()
    stayed_away.confirm()
    for appointment in (came, stayed_away, still_requested):
        move_into_the_past(appointment)
    completed = run_action(front_desk_client, "complete", [came])
    assert messages_after(completed) == [f"1 appointment marked completed: {came.reference}."]
    response = run_action(front_desk_client, "mark_no_show", [stayed_away, still_requested])
    came.refresh_from_db()
    stayed_away.refresh_from_db()
    still_requested.refresh_from_db()
    assert came.status == Status.COMPLETED
    assert stayed_away.status == Status.NO_SHOW
    assert still_requested.status == Status.REQUESTED
    assert messages_after(response)[-2:] == [
        f"1 appointment marked no-show: {stayed_away.reference}.",
        f"1 not marked no-show: {still_requested.reference} is requested and cannot become "
        "no-show.",
    ]


def test_actions_are_refused_without_the_csrf_token(front_desk, request_at):
    appointment = request_at(9)
    client = Client(enforce_csrf_checks=True)
    client.force_login(front_desk)
    response = client.post(
        reverse("admin:booking_appointment_changelist"),
        {"action": "confirm", "index": "0", "_selected_action": [appointment.pk]},
    )
    assert response.status_code == 403
    appointment.refresh_from_db()
    assert appointment.status == Status.REQUESTED


def test_appointment_page_offers_the_next_steps_of_its_workflow(front_desk_client, request_at):
    appointment = request_at(9)
    html = front_desk_client.get(
        reverse("admin:booking_appointment_change", args=[appointment.pk])
    ).content.decode()
    for status in ("confirmed", "declined", "cancelled"):
        assert reverse("admin:booking_appointment_status", args=[appointment.pk, status]) in html
    assert ">Confirm</button>" in html
    assert "Mark completed" not in html


def test_confirm_button_of_the_appointment_page_confirms_by_post(front_desk_client, request_at):
    appointment = request_at(9)
    url = reverse("admin:booking_appointment_status", args=[appointment.pk, "confirmed"])
    response = front_desk_client.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:booking_appointment_change", args=[appointment.pk]
    )
    appointment.refresh_from_db()
    assert appointment.status == Status.CONFIRMED


def test_status_page_changes_nothing_on_get(front_desk_client, request_at):
    appointment = request_at(9)
    url = reverse("admin:booking_appointment_status", args=[appointment.pk, "confirmed"])
    assert front_desk_client.get(url).status_code == 200
    appointment.refresh_from_db()
    assert appointment.status == Status.REQUESTED


def test_decline_from_the_appointment_page_sends_the_message(front_desk_client, request_at):
    appointment = request_at(9)
    url = reverse("admin:booking_appointment_status", args=[appointment.pk, "declined"])
    page = front_desk_client.get(url).content.decode()
    assert "Message to the patient" in page
    front_desk_client.post(url, {"note": "Fully booked, sorry."})
    appointment.refresh_from_db()
    assert appointment.status == Status.DECLINED
    assert appointment.changes.last().note == "Fully booked, sorry."


def test_refused_change_from_the_appointment_page_says_why(front_desk_client, request_at):
    appointment = request_at(9)
    appointment.decline()
    url = reverse("admin:booking_appointment_status", args=[appointment.pk, "confirmed"])
    response = front_desk_client.post(url, follow=True)
    assert (
        f"{appointment.reference} is declined and cannot become confirmed."
        in response.content.decode()
    )


def test_unknown_status_is_not_found(front_desk_client, request_at):
    appointment = request_at(9)
    url = reverse("admin:booking_appointment_status", args=[appointment.pk, "requested"])
    assert front_desk_client.post(url).status_code == 404


def test_a_coming_appointment_cannot_be_marked_completed_or_no_show(
    front_desk_client, request_at, run_action, move_into_the_past, service
):
    # Either frees its time: a slip in a bulk action would give it to another patient
    # while its own patient, told nothing, still comes.
    from booking.availability import Refusal, SlotUnavailable, check_slot

    coming, came = request_at(10), request_at(14)
    coming.confirm()
    came.confirm()
    move_into_the_past(came)
    html = front_desk_client.get(
        reverse("admin:booking_appointment_change", args=[coming.pk])
    ).content.decode()
    assert "Mark completed" not in html
    assert reverse("admin:booking_appointment_status", args=[coming.pk, "no_show"]) not in html
    assert "Completed and no-show can be marked once its time has come." in html
    html = front_desk_client.get(
        reverse("admin:booking_appointment_change", args=[came.pk])
    ).content.decode()
    assert "Mark completed" in html
    assert "once its time has come" not in html

    response = run_action(front_desk_client, "complete", [coming, came])
    coming.refresh_from_db()
    came.refresh_from_db()
    assert coming.status == Status.CONFIRMED
    assert came.status == Status.COMPLETED
    assert messages_after(response) == [
        f"1 appointment marked completed: {came.reference}.",
        f"1 not marked completed: {coming.reference} has not started yet and cannot become "
        "completed.",
    ]
    with pytest.raises(SlotUnavailable) as refused:
        check_slot(service, coming.start)
    assert refused.value.reason == Refusal.TAKEN  # still its patient's


def test_who_may_only_look_at_an_appointment_is_not_told_how_to_mark_it(
    practitioner_client, request_at
):
    coming = request_at(10)  # the practitioner's own, which they may view but not change
    coming.confirm()
    html = practitioner_client.get(
        reverse("admin:booking_appointment_change", args=[coming.pk])
    ).content.decode()
    assert coming.reference in html
    assert "once its time has come" not in html
