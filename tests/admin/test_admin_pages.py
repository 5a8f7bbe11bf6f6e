"""Every admin page opens, and patients' words are shown as text, never run as code."""

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from booking.models import Appointment

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def registered_models():
    return sorted(admin.site._registry, key=lambda model: model._meta.label)


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m._meta.label)
def test_every_changelist_and_add_page_opens_for_a_superuser(admin_client, admin_user, model):
    opts = model._meta
    response = admin_client.get(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), follow=True
    )
    assert response.status_code == 200
    request = RequestFactory().get("/")
    request.user = admin_user
    if admin.site.get_model_admin(model).has_add_permission(request):
        add = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
        assert add.status_code == 200


def test_clinic_record_opens_straight_away_and_cannot_be_added_or_deleted(admin_client, clinic):
    response = admin_client.get(reverse("admin:booking_clinic_changelist"))
    assert response["Location"] == reverse("admin:booking_clinic_change", args=[clinic.pk])
    page = admin_client.get(response["Location"])
    assert "Online booking rules" in page.text
    assert admin_client.get(reverse("admin:booking_clinic_add")).status_code == 403
    delete = reverse("admin:booking_clinic_delete", args=[clinic.pk])
    assert admin_client.get(delete).status_code == 403


@pytest.fixture
def scripted(request_at):
    """A request whose every patient-entered value is a script."""
    appointment = request_at(
        10,
        first_name=SCRIPT,
        last_name=SCRIPT,
        email=SCRIPT,
        phone=SCRIPT,
        message=SCRIPT,
        concern=SCRIPT,
        consent_version="<script>x</script>",
    )
    Appointment.objects.filter(pk=appointment.pk).update(staff_notes=SCRIPT)
    return appointment


def pages_showing(appointment, monday):
    change = reverse("admin:booking_appointment_change", args=[appointment.pk])
    schedule = reverse("admin:booking_appointment_schedule")
    return [
        (reverse("admin:booking_appointment_changelist"), {}),
        (reverse("admin:booking_appointment_changelist"), {"q": SCRIPT}),
        (change, {}),
        (reverse("admin:booking_appointment_history", args=[appointment.pk]), {}),
        (reverse("admin:booking_appointment_status", args=[appointment.pk, "declined"]), {}),
        (schedule, {"date": monday.isoformat()}),
        (schedule, {"view": "week", "date": monday.isoformat()}),
    ]


def test_patient_text_is_escaped_on_every_admin_page(admin_client, scripted, monday):
    for url, params in pages_showing(scripted, monday):
        html = admin_client.get(url, params).text
        assert SCRIPT not in html, url
        assert "<script>x</script>" not in html, url
        if "/history/" not in url:  # the change log names the appointment only
            assert ESCAPED in html, url


def test_patient_text_is_escaped_on_the_decline_page(admin_client, scripted, run_action):
    html = run_action(admin_client, "decline", [scripted]).text
    assert SCRIPT not in html
    assert ESCAPED in html


def test_admin_pages_carry_no_inline_script_or_style(admin_client, scripted, monday):
    # The Content-Security-Policy forbids them: they would not run, and the page would break.
    for url, params in pages_showing(scripted, monday):
        response = admin_client.get(url, params)
        assert "script-src 'self'" in response["Content-Security-Policy"]
        html = response.text
        assert ' style="' not in html, url
        assert "<script>" not in html, url
