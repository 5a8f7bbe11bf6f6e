"""The appointment workflow and the overlap rule, as the model enforces them."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction

from booking.models import Appointment, Service, SlotTaken, TransitionNotAllowed

NY = ZoneInfo("America/New_York")


def monday_at(hour, minute=0, weeks_ahead=2):
    today = datetime.now(NY).date()
    monday = today + timedelta(days=(7 - today.weekday()) + 7 * (weeks_ahead - 1))
    return datetime(monday.year, monday.month, monday.day, hour, minute, tzinfo=NY)


def test_booking_records_the_request_in_the_history(make_appointment):
    appointment = make_appointment(monday_at(10))
    assert appointment.status == Appointment.Status.REQUESTED
    assert appointment.end - appointment.start == timedelta(minutes=75)
    change = appointment.changes.get()
    assert (change.from_status, change.to_status) == ("", "requested")


def test_overlapping_booking_of_one_practitioner_is_refused(make_appointment):
    make_appointment(monday_at(10))
    with pytest.raises(SlotTaken):
        make_appointment(monday_at(11))
    assert Appointment.objects.count() == 1


def test_other_practitioner_can_take_the_same_time(make_appointment, other_practitioner):
    make_appointment(monday_at(10))
    make_appointment(monday_at(10), practitioner=other_practitioner)
    assert Appointment.objects.count() == 2


def test_back_to_back_appointments_are_allowed_without_buffer(make_appointment):
    make_appointment(monday_at(10))
    make_appointment(monday_at(11, 15))
    assert Appointment.objects.count() == 2


def test_buffer_keeps_time_free_between_appointments(make_appointment, clinic):
    clinic.buffer_minutes = 15
    clinic.save()
    make_appointment(monday_at(10))
    with pytest.raises(SlotTaken):
        make_appointment(monday_at(11, 15))
    make_appointment(monday_at(11, 30))


def test_the_longest_appointment_still_blocks_its_last_minutes(make_appointment, clinic):
    longest = Service.objects.create(name="Day retreat", slug="retreat", duration_minutes=480)
    clinic.buffer_minutes = 15
    clinic.save()
    make_appointment(monday_at(8), service=longest)  # until 16:00
    with pytest.raises(SlotTaken):
        make_appointment(monday_at(16, 10))  # inside the buffer after it
    make_appointment(monday_at(16, 15))
    assert Appointment.objects.count() == 2


def test_an_overlap_only_the_database_catches_is_refused_and_leaves_the_caller_working(
    make_appointment, monkeypatch
):
    """The PostgreSQL exclusion constraint, the last line behind the practitioner's lock.

    The overlap check is made to see nothing, as if a writer had bypassed the lock: the
    constraint refuses the insert, the patient is told the time is taken, and whoever
    called (the admin's own transaction here, the test's) can go on using the database.
    """
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the exclusion constraint exists only there")
    make_appointment(monday_at(10))
    monkeypatch.setattr(Appointment, "conflicts", lambda self: Appointment.objects.none())
    with transaction.atomic():
        with pytest.raises(SlotTaken):
            make_appointment(monday_at(10, 30))
        assert Appointment.objects.count() == 1
        make_appointment(monday_at(11, 15))
    assert Appointment.objects.count() == 2
    assert not connection.needs_rollback


@pytest.mark.parametrize("minutes", [4, 481])
def test_a_service_cannot_last_less_than_5_minutes_or_more_than_8_hours(db, minutes):
    # The overlap queries rely on it (booking.models.LONGEST_APPOINTMENT): the database
    # refuses such a service even when it is written without the admin's form.
    with pytest.raises(IntegrityError), transaction.atomic():
        Service.objects.create(name="Too long", slug="too-long", duration_minutes=minutes)


def test_cancelled_appointment_frees_its_slot(make_appointment):
    first = make_appointment(monday_at(10))
    first.cancel()
    make_appointment(monday_at(10))
    assert Appointment.objects.active().count() == 1


def test_workflow_allows_only_its_transitions(make_appointment, admin_user, move_into_the_past):
    appointment = make_appointment(monday_at(10))
    with pytest.raises(TransitionNotAllowed):
        appointment.complete(by=admin_user)
    appointment.confirm(by=admin_user, note="See you then")
    move_into_the_past(appointment)
    appointment.complete(by=admin_user)
    with pytest.raises(TransitionNotAllowed):
        appointment.cancel(by=admin_user)
    history = [(c.from_status, c.to_status, c.changed_by) for c in appointment.changes.all()]
    assert history == [
        ("", "requested", None),
        ("requested", "confirmed", admin_user),
        ("confirmed", "completed", admin_user),
    ]
    assert appointment.changes.all()[1].note == "See you then"


def test_declined_request_cannot_be_confirmed(make_appointment):
    appointment = make_appointment(monday_at(10))
    appointment.decline(note="Fully booked that day")
    with pytest.raises(TransitionNotAllowed):
        appointment.confirm()
    appointment.refresh_from_db()
    assert appointment.status == "declined"


def test_reschedule_moves_the_appointment_and_bumps_the_sequence(make_appointment):
    appointment = make_appointment(monday_at(10))
    appointment.reschedule(monday_at(14))
    appointment.refresh_from_db()
    assert appointment.start == monday_at(14)
    assert appointment.sequence == 1
    assert appointment.changes.last().is_reschedule


def test_reschedule_onto_a_taken_time_is_refused_and_changes_nothing(make_appointment):
    make_appointment(monday_at(10))
    other = make_appointment(monday_at(14))
    with pytest.raises(SlotTaken):
        other.reschedule(monday_at(10, 30))
    assert other.start == monday_at(14)
    other.refresh_from_db()
    assert other.start == monday_at(14)
    assert other.sequence == 0


def test_patient_link_finds_only_its_own_appointment(make_appointment):
    appointment = make_appointment(monday_at(10))
    assert Appointment.objects.from_token(appointment.token) == appointment
    with pytest.raises(Appointment.DoesNotExist):
        Appointment.objects.from_token(appointment.token[:-2] + "xx")
    with pytest.raises(Appointment.DoesNotExist):
        Appointment.objects.from_token(str(appointment.pk))


def test_references_are_short_and_unambiguous(make_appointment):
    reference = make_appointment(monday_at(10)).reference
    assert len(reference) == 8
    assert not set(reference) & set("01OIL")
