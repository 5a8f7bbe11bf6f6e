"""The owner's set-up refuses what makes no sense, with a clear message, saving nothing."""

from datetime import time

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from booking.models import Practitioner, Service, WorkingHours


def errors_of(instance):
    with pytest.raises(ValidationError) as refused:
        instance.full_clean()
    return refused.value.message_dict


def test_a_price_below_zero_is_refused(db):
    service = Service(name="Cupping", slug="cupping", duration_minutes=30, price="-50.00")
    assert "price" in errors_of(service)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("minimum_notice_hours", 2000),
        ("buffer_minutes", 30000),
        ("cancellation_notice_hours", 30000),
        ("slot_grid_minutes", 7),
    ],
)
def test_booking_rules_out_of_all_reason_are_refused(clinic, field, value):
    setattr(clinic, field, value)
    assert field in errors_of(clinic)


def test_a_minimum_notice_past_the_booking_horizon_is_refused(clinic):
    clinic.booking_horizon_days = 7
    clinic.minimum_notice_hours = 7 * 24
    message = errors_of(clinic)["minimum_notice_hours"][0]
    assert "shorter than the booking horizon" in message
    clinic.minimum_notice_hours = 48
    clinic.full_clean()


def test_usual_booking_rules_are_accepted(clinic):
    for grid in (5, 10, 15, 20, 30, 60):
        clinic.slot_grid_minutes = grid
        clinic.full_clean()


def practitioner_form_with_hours(admin_client, practitioner, form_of, ranges):
    url = reverse("admin:booking_practitioner_change", args=[practitioner.pk])
    data = form_of(admin_client.get(url), "practitioner_form")
    existing = int(data["working_hours-TOTAL_FORMS"]) - 1  # less the blank extra row
    for index, (weekday, start, end) in enumerate(ranges, start=existing):
        prefix = f"working_hours-{index}-"
        data.update(
            {
                f"{prefix}weekday": str(weekday),
                f"{prefix}start_time": start,
                f"{prefix}end_time": end,
                f"{prefix}practitioner": str(practitioner.pk),
            }
        )
    data["working_hours-TOTAL_FORMS"] = str(existing + len(ranges))
    data["_save"] = "Save"
    return admin_client.post(url, data)


def test_overlapping_working_hours_on_one_day_are_refused(admin_client, practitioner, form_of):
    before = WorkingHours.objects.count()
    response = practitioner_form_with_hours(
        admin_client,
        practitioner,
        form_of,
        [(0, "12:00", "19:00")],  # Monday is 9-17
    )
    assert response.status_code == 200
    assert "Monday: 9:00 AM–5:00 PM and 12:00 PM–7:00 PM overlap" in response.text
    assert WorkingHours.objects.count() == before


def test_back_to_back_working_hours_are_accepted(admin_client, practitioner, form_of):
    response = practitioner_form_with_hours(
        admin_client, practitioner, form_of, [(0, "17:00", "19:00")]
    )
    assert response.status_code == 302
    assert practitioner.working_hours.filter(weekday=0).count() == 2


def test_new_services_and_practitioners_are_proposed_last_in_the_order(
    admin_client, service, short_service, practitioner
):
    Service.objects.filter(pk=short_service.pk).update(position=4)
    html = admin_client.get(reverse("admin:booking_service_add")).text
    assert 'name="position" value="5"' in html
    html = admin_client.get(reverse("admin:booking_practitioner_add")).text
    assert f'name="position" value="{practitioner.position + 1}"' in html


def test_a_practitioner_without_working_hours_is_not_offered_to_patients(
    client, service, practitioner
):
    Practitioner.objects.create(name="New Starter", slug="new-starter")
    html = client.get("/book/").text
    assert "Maya Chen, L.Ac." in html
    assert "New Starter" not in html


def test_a_practitioner_is_offered_once_given_working_hours(client, service, practitioner):
    newcomer = Practitioner.objects.create(name="New Starter", slug="new-starter")
    client.get("/book/")
    WorkingHours.objects.create(
        practitioner=newcomer, weekday=0, start_time=time(9), end_time=time(12)
    )
    assert "New Starter" in client.get("/book/").text


def test_staff_book_only_what_is_offered(admin_client, service, short_service, practitioner):
    short_service.is_active = False
    short_service.save()
    retired = Practitioner.objects.create(name="Retired Person", slug="retired", is_active=False)
    html = admin_client.get(reverse("admin:booking_appointment_add")).text
    assert service.name in html
    assert short_service.name not in html
    assert retired.name not in html


def test_a_new_range_without_its_day_is_a_form_error(admin_client, practitioner, form_of):
    before = WorkingHours.objects.count()
    response = practitioner_form_with_hours(
        admin_client, practitioner, form_of, [("", "18:00", "20:00")]
    )
    assert response.status_code == 200
    assert "This field is required." in response.text
    assert WorkingHours.objects.count() == before


@pytest.mark.parametrize("country", ["XX", "U", "12"])
def test_a_country_code_that_is_not_one_is_refused(clinic, country):
    clinic.country = country
    assert "Enter the clinic's two-letter country code" in errors_of(clinic)["country"][0]
