"""Phone bookings and rescheduling by staff: the overlap rule holds and errors are clear."""

from datetime import date, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from booking.models import Appointment, Service

ADD = reverse("admin:booking_appointment_add")
CHANGELIST = reverse("admin:booking_appointment_changelist")


def at_local(day, hour, minute=0):
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.get_current_timezone())


def change_url(appointment):
    return reverse("admin:booking_appointment_change", args=[appointment.pk])


def save_edited(client, form_of, appointment, edits):
    """Open the appointment's page, change `edits` in its form and press Save."""
    data = form_of(client.get(change_url(appointment)))
    data.update({**edits, "_save": "Save"})
    return client.post(change_url(appointment), data)


def phone_booking(service, practitioner, start, **fields):
    local = timezone.localtime(start)
    return {
        "status": "confirmed",
        "service": service.pk,
        "practitioner": practitioner.pk,
        "start_0": local.strftime("%Y-%m-%d"),
        "start_1": local.strftime("%H:%M"),
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@example.com",
        "phone": "+12125550199",
        "concern": "chronic_pain",
        "message": "",
        "staff_notes": "Called at 9; prefers mornings.",
        "_save": "Save",
        **fields,
    }


def test_front_desk_books_a_phone_caller(
    front_desk_client, front_desk, service, practitioner, at, monday
):
    response = front_desk_client.post(ADD, phone_booking(service, practitioner, at(monday, 10)))
    assert response.status_code == 302
    appointment = Appointment.objects.get()
    assert appointment.channel == Appointment.Channel.STAFF
    assert appointment.created_by == front_desk
    assert appointment.status == Appointment.Status.CONFIRMED
    assert appointment.start == at(monday, 10)
    assert appointment.end == at(monday, 11, 15)
    change = appointment.changes.get()
    assert (change.from_status, change.to_status, change.changed_by) == (
        "",
        "confirmed",
        front_desk,
    )


@pytest.mark.parametrize("typed", ["(212) 555-0199", "212.555.0199", "+1 212 555 0199"])
def test_a_phone_booking_keeps_the_number_as_online_requests_do_so_search_finds_it(
    front_desk_client, service, practitioner, at, monday, typed
):
    data = phone_booking(service, practitioner, at(monday, 10), phone=typed)
    assert front_desk_client.post(ADD, data).status_code == 302
    assert Appointment.objects.get().phone == "+12125550199"
    for search in ("2125550199", "212-555-0199", "(212) 555 0199"):
        response = front_desk_client.get(CHANGELIST, {"q": search})
        assert response.context["cl"].result_count == 1, search


def test_a_phone_booking_with_a_number_that_cannot_be_called_says_so(
    front_desk_client, service, practitioner, at, monday
):
    data = phone_booking(service, practitioner, at(monday, 10), phone="555-01")
    response = front_desk_client.post(ADD, data)
    assert response.status_code == 200
    assert "Enter a phone number like (212) 555-0123" in response.content.decode()
    assert not Appointment.objects.exists()


def test_phone_booking_can_wait_for_confirmation(
    front_desk_client, service, practitioner, at, monday
):
    data = phone_booking(service, practitioner, at(monday, 10), status="requested")
    front_desk_client.post(ADD, data)
    assert Appointment.objects.get().status == Appointment.Status.REQUESTED


def test_phone_booking_over_another_appointment_is_refused_with_a_clear_error(
    front_desk_client, service, practitioner, request_at, at, monday
):
    request_at(10)
    response = front_desk_client.post(ADD, phone_booking(service, practitioner, at(monday, 11)))
    assert response.status_code == 200
    assert "The practitioner already has an appointment at this time." in response.text
    assert Appointment.objects.count() == 1


def test_schedule_link_prefills_the_practitioner_and_time(
    front_desk_client, practitioner, at, monday
):
    start = at(monday, 14, 30)
    response = front_desk_client.get(
        ADD, {"practitioner": practitioner.pk, "start": start.isoformat()}
    )
    assert response.status_code == 200
    html = response.text
    assert f'value="{monday:%Y-%m-%d}"' in html
    assert 'value="14:30"' in html
    assert f'<option value="{practitioner.pk}" selected>' in html


def test_reschedule_moves_the_appointment_and_records_it(
    front_desk_client, front_desk, request_at, form_of, at, monday
):
    appointment = request_at(10)
    response = save_edited(
        front_desk_client,
        form_of,
        appointment,
        {"start_0": f"{monday:%Y-%m-%d}", "start_1": "14:00"},
    )
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.start == at(monday, 14)
    assert appointment.end == at(monday, 15, 15)
    assert appointment.sequence == 1
    moved = appointment.changes.last()
    assert moved.is_reschedule
    assert moved.changed_by == front_desk
    assert moved.note == f"Moved from {monday:%Y-%m-%d} 10:00."


def test_reschedule_to_another_practitioner(
    front_desk_client, request_at, form_of, other_practitioner
):
    appointment = request_at(10)
    save_edited(
        front_desk_client, form_of, appointment, {"practitioner": str(other_practitioner.pk)}
    )
    appointment.refresh_from_db()
    assert appointment.practitioner == other_practitioner
    assert appointment.changes.last().is_reschedule


def test_reschedule_over_another_appointment_shows_an_error_and_changes_nothing(
    front_desk_client, request_at, form_of, monday
):
    appointment = request_at(10)
    request_at(13)
    response = save_edited(
        front_desk_client,
        form_of,
        appointment,
        {"start_0": f"{monday:%Y-%m-%d}", "start_1": "12:30", "staff_notes": "moved"},
    )
    assert response.status_code == 200
    assert "The practitioner already has an appointment at this time." in response.text
    before = appointment.start
    appointment.refresh_from_db()
    assert appointment.start == before
    assert appointment.staff_notes == ""
    assert appointment.sequence == 0
    assert appointment.changes.count() == 1


def test_staff_notes_are_editable_and_the_patients_words_are_not(
    front_desk_client, request_at, form_of
):
    appointment = request_at(10, message="It hurts when I sit.")
    page = front_desk_client.get(change_url(appointment))
    data = form_of(page)
    assert "first_name" not in data
    assert "message" not in data
    data.update(
        {
            "staff_notes": "Bring the MRI report.",
            "first_name": "Mallory",
            "message": "x",
            "_save": "Save",
        }
    )
    front_desk_client.post(change_url(appointment), data)
    appointment.refresh_from_db()
    assert appointment.staff_notes == "Bring the MRI report."
    assert appointment.first_name == "Ada"
    assert appointment.message == "It hurts when I sit."
    assert appointment.changes.count() == 1  # not a reschedule


def test_appointment_page_shows_the_history_read_only(front_desk_client, front_desk, request_at):
    appointment = request_at(10)
    appointment.confirm(by=front_desk, note="Called the patient back.")
    html = front_desk_client.get(change_url(appointment)).text
    assert "History" in html or "history" in html
    assert "Entered as requested" in html
    assert "Requested → Confirmed" in html
    assert "frontdesk" in html
    assert "Called the patient back." in html
    assert 'name="changes-0-note"' not in html


def test_finished_appointment_cannot_be_moved(
    front_desk_client, request_at, form_of, move_into_the_past
):
    appointment = request_at(10)
    appointment.confirm()
    move_into_the_past(appointment)
    appointment.complete()
    data = form_of(front_desk_client.get(change_url(appointment)))
    assert "start_0" not in data
    assert "practitioner" not in data


def test_moving_a_request_into_the_past_is_still_checked_for_overlap(
    front_desk_client, make_appointment, form_of, at
):
    # The overlap rule has no "online only" exception: staff obey it on any date.
    yesterday = timezone.localdate() - timedelta(days=1)
    make_appointment(at(yesterday, 9))
    later = make_appointment(at(yesterday, 14))
    response = save_edited(
        front_desk_client, form_of, later, {"start_0": f"{yesterday:%Y-%m-%d}", "start_1": "09:30"}
    )
    assert "The practitioner already has an appointment at this time." in response.text


def test_phone_booking_across_the_spring_clock_change_lasts_its_real_duration(
    front_desk_client, service, practitioner
):
    # 1:45 EST + 75 minutes is 4:00 EDT: the clocks skip 2:00-3:00.
    data = phone_booking(service, practitioner, at_local(date(2027, 3, 14), 1, 45))
    front_desk_client.post(ADD, data)
    appointment = Appointment.objects.get()
    assert appointment.end - appointment.start == timedelta(minutes=75)
    assert timezone.localtime(appointment.end).strftime("%H:%M %Z") == "04:00 EDT"


def test_reschedule_across_the_autumn_clock_change_lasts_its_real_duration(
    front_desk_client, request_at, form_of
):
    appointment = request_at(10)
    # 0:45 EDT + 75 minutes is 1:00 EST: the clocks repeat 1:00-2:00.
    save_edited(
        front_desk_client, form_of, appointment, {"start_0": "2027-11-07", "start_1": "00:45"}
    )
    appointment.refresh_from_db()
    assert appointment.end - appointment.start == timedelta(minutes=75)
    assert timezone.localtime(appointment.end).strftime("%H:%M %Z") == "01:00 EST"


def test_details_staff_entered_themselves_can_be_corrected(
    front_desk_client, service, practitioner, at, monday, form_of
):
    front_desk_client.post(ADD, phone_booking(service, practitioner, at(monday, 10)))
    appointment = Appointment.objects.get()
    data = form_of(front_desk_client.get(change_url(appointment)))
    assert data["phone"] == "+12125550199"
    data.update({"phone": "+12125550198", "_save": "Save"})
    front_desk_client.post(change_url(appointment), data)
    appointment.refresh_from_db()
    assert appointment.phone == "+12125550198"


def test_the_request_page_tells_staff_which_article_the_patient_came_from(
    front_desk_client, request_at, published_article
):
    from_article = request_at(10, source_article=published_article)
    html = front_desk_client.get(change_url(from_article)).text
    label = html.index("Booked from the article")
    assert published_article.title in html[label : label + 600]
    assert "Booked from the article" not in front_desk_client.get(change_url(request_at(14))).text


def test_times_read_and_are_typed_as_the_rest_of_the_site_writes_them(
    front_desk_client, request_at, form_of
):
    appointment = request_at(13, 45, consent_at=timezone.now(), consent_version="2026-11")
    page = front_desk_client.get(change_url(appointment))
    data = form_of(page)
    assert data["start_1"] == "13:45"  # not 13:45:00
    consent = timezone.localtime(appointment.consent_at)
    # As "Received" and the history show a moment, not "Nov. 26, 2026, 1:43 p.m.".
    assert f"{consent:%a, %b} {consent.day}, {consent.year}, " in page.text
    assert "p.m." not in page.text and "a.m." not in page.text
    # Staff may type a time the way they say it.
    data.update({"start_1": "2:30 PM", "_save": "Save"})
    front_desk_client.post(change_url(appointment), data)
    appointment.refresh_from_db()
    assert timezone.localtime(appointment.start).strftime("%H:%M") == "14:30"


def test_saving_a_note_keeps_the_booked_time_after_the_service_got_shorter(
    front_desk_client, request_at, form_of, service, at, monday
):
    appointment = request_at(10)  # 75 minutes: 10:00-11:15
    appointment.confirm()
    Service.objects.filter(pk=service.pk).update(duration_minutes=45)
    response = save_edited(
        front_desk_client, form_of, appointment, {"staff_notes": "Bring the MRI."}
    )

    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.staff_notes == "Bring the MRI."
    # Nothing moved: the patient still expects 10:00-11:15, as their calendar file says.
    assert (appointment.start, appointment.end) == (at(monday, 10), at(monday, 11, 15))
    assert not appointment.changes.filter(is_reschedule=True).exists()


def service_got_longer(service, clinic):
    Service.objects.filter(pk=service.pk).update(duration_minutes=90)


def buffer_grew(service, clinic):
    clinic.buffer_minutes = 15
    clinic.save()


@pytest.mark.parametrize("change", [service_got_longer, buffer_grew])
def test_saving_a_note_is_not_refused_after_the_rules_grew(
    front_desk_client, request_at, form_of, service, clinic, change
):
    first = request_at(10)  # 10:00-11:15
    request_at(11, 15, first_name="Bo")  # back to back: allowed when they were booked
    change(service, clinic)
    response = save_edited(front_desk_client, form_of, first, {"staff_notes": "Bring the MRI."})

    assert response.status_code == 302
    first.refresh_from_db()
    assert first.staff_notes == "Bring the MRI."


def test_moving_into_a_grown_buffer_is_still_refused(
    front_desk_client, request_at, form_of, clinic, at, monday
):
    first = request_at(10)  # 10:00-11:15
    request_at(13, first_name="Bo")  # 13:00-14:15
    clinic.buffer_minutes = 15
    clinic.save()
    response = save_edited(
        front_desk_client, form_of, first, {"start_1": "11:50"}
    )  # ends 13:05, inside Bo's buffer

    assert response.status_code == 200
    assert "already has an appointment" in response.text
    first.refresh_from_db()
    assert first.start == at(monday, 10)


def test_saving_a_note_never_writes_back_what_changed_while_the_form_was_open(
    front_desk_client, request_at, form_of, monkeypatch
):
    # The patient cancels through their link between the admin's read of the appointment
    # and its save (PostgreSQL lets the two overlap; SQLite serialises them).
    from booking import admin as booking_admin

    appointment = request_at(10)
    real_clean = booking_admin.AppointmentForm.clean

    def clean_while_the_patient_cancels(form):
        Appointment.objects.get(pk=appointment.pk).cancel(note="By the patient.")
        Appointment.objects.filter(pk=appointment.pk).update(
            reminder_sent_at=timezone.now()  # and the reminder run marks it reminded
        )
        return real_clean(form)

    monkeypatch.setattr(booking_admin.AppointmentForm, "clean", clean_while_the_patient_cancels)
    edits = {"staff_notes": "Bring the MRI."}
    assert save_edited(front_desk_client, form_of, appointment, edits).status_code == 302
    appointment.refresh_from_db()
    assert appointment.staff_notes == "Bring the MRI."
    assert appointment.status == Appointment.Status.CANCELLED
    assert appointment.reminder_sent_at is not None


@pytest.mark.parametrize("edit", [{"staff_notes": "Bring the MRI."}, {"start_1": "14:00"}])
def test_an_appointment_deleted_while_its_page_was_open_is_not_saved_back(
    front_desk_client, request_at, form_of, monkeypatch, edit
):
    from django.contrib.messages import get_messages

    from booking import admin as booking_admin

    appointment = request_at(10)
    real_clean = booking_admin.AppointmentForm.clean

    def clean_while_it_is_purged(form):
        Appointment.objects.filter(pk=appointment.pk).delete()
        return real_clean(form)

    monkeypatch.setattr(booking_admin.AppointmentForm, "clean", clean_while_it_is_purged)
    response = save_edited(front_desk_client, form_of, appointment, edit)
    assert response.status_code == 302
    assert response.url == CHANGELIST
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "This appointment was deleted while its page was open (old requests are purged after "
        "a while). Nothing was saved."
    ]
    # (Here the deletion ran inside the admin's own transaction, so it was rolled back with it.)
    assert Appointment.objects.get().start == appointment.start
    assert Appointment.objects.get().staff_notes != "Bring the MRI."
