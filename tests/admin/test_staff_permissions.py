"""Each staff group sees and can do exactly its part of the admin; the rest is a 403."""

import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from booking.models import Appointment, ClinicClosure

LIST = reverse("admin:booking_appointment_changelist")
SCHEDULE = reverse("admin:booking_appointment_schedule")
EXPORT = reverse("admin:booking_appointment_export")


def listed(response):
    """The references in the list's rows (the page also repeats the search words)."""
    return re.findall(r'<th class="field-reference"><a [^>]*>([A-Z0-9]{8})</a>', response.text)


def change_url(appointment):
    return reverse("admin:booking_appointment_change", args=[appointment.pk])


def status_url(appointment, status="confirmed"):
    return reverse("admin:booking_appointment_status", args=[appointment.pk, status])


@pytest.fixture
def maya_and_samuel(request_at, other_practitioner):
    """One request for Maya Chen (who has a staff account), one for Samuel Okafor."""
    return request_at(9), request_at(9, practitioner=other_practitioner, first_name="Sam")


def test_groups_made_by_the_migration_hold_exactly_their_permissions(db):
    def codenames(name):
        return set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))

    assert codenames("Front desk") == {
        "view_appointment",
        "add_appointment",
        "change_appointment",
        "view_all_appointments",
        "export_appointments",
        "view_statuschange",
        "view_service",
        "view_practitioner",
        "view_workinghours",
        "view_timeoff",
        "view_clinicclosure",
    }
    assert codenames("Practitioner") == {"view_appointment", "view_statuschange"}
    assert codenames("Content editor") == {
        f"{action}_{model}"
        for action in ("view", "add", "change", "delete")
        for model in ("article", "topic", "reference")
    }


# Front desk.


def test_front_desk_sees_every_appointment_and_can_add_and_change(
    front_desk_client, maya_and_samuel
):
    maya, samuel = maya_and_samuel
    html = front_desk_client.get(LIST).text
    assert maya.reference in html and samuel.reference in html
    assert front_desk_client.get(reverse("admin:booking_appointment_add")).status_code == 200
    page = front_desk_client.get(change_url(samuel)).text
    assert 'name="staff_notes"' in page
    assert "Samuel Okafor" in front_desk_client.get(SCHEDULE).text
    assert front_desk_client.get(EXPORT).status_code == 200


def test_front_desk_cannot_delete_appointments(front_desk_client, maya_and_samuel):
    maya, _ = maya_and_samuel
    delete = reverse("admin:booking_appointment_delete", args=[maya.pk])
    assert front_desk_client.get(delete).status_code == 403
    assert front_desk_client.post(delete, {"post": "yes"}).status_code == 403
    assert 'value="delete_selected"' not in front_desk_client.get(LIST).text
    assert Appointment.objects.filter(pk=maya.pk).exists()


def test_front_desk_views_the_clinic_set_up_without_changing_it(front_desk_client, practitioner):
    closure = ClinicClosure.objects.create(
        start_date="2027-12-25", end_date="2027-12-25", reason="Christmas"
    )
    for model in ("service", "practitioner", "clinicclosure"):
        assert (
            front_desk_client.get(reverse(f"admin:booking_{model}_changelist")).status_code == 200
        )
        assert front_desk_client.get(reverse(f"admin:booking_{model}_add")).status_code == 403
    url = reverse("admin:booking_clinicclosure_change", args=[closure.pk])
    assert front_desk_client.get(url).status_code == 200
    assert front_desk_client.post(url, {"reason": "Gone"}).status_code == 403
    page = front_desk_client.get(
        reverse("admin:booking_practitioner_change", args=[practitioner.pk])
    ).text
    assert "Working hours" in page or "working hours" in page
    assert 'name="_save"' not in page


@pytest.mark.parametrize(
    "url",
    [
        reverse("admin:booking_clinic_changelist"),
        reverse("admin:articles_article_changelist"),
        reverse("admin:articles_topic_changelist"),
        reverse("admin:auth_user_changelist"),
        reverse("admin:auth_group_changelist"),
    ],
)
def test_front_desk_has_no_access_to_clinic_settings_articles_or_accounts(
    front_desk_client, clinic, url
):
    assert front_desk_client.get(url).status_code == 403


# Practitioner.


def test_practitioner_sees_only_their_own_appointments(practitioner_client, maya_and_samuel):
    maya, samuel = maya_and_samuel
    html = practitioner_client.get(LIST, follow=True).text  # their coming appointments
    assert maya.reference in html
    assert samuel.reference not in html
    assert "Sam " not in html
    assert practitioner_client.get(change_url(maya)).status_code == 200
    assert practitioner_client.get(change_url(samuel)).status_code == 404
    history = reverse("admin:booking_appointment_history", args=[samuel.pk])
    assert practitioner_client.get(history).status_code == 404


def test_practitioner_search_and_filters_never_reach_others(practitioner_client, maya_and_samuel):
    _, samuel = maya_and_samuel
    assert listed(practitioner_client.get(LIST, {"q": samuel.reference})) == []
    filtered = practitioner_client.get(LIST, {"practitioner__id__exact": samuel.practitioner_id})
    assert samuel.reference not in listed(filtered)


def test_practitioner_schedule_has_only_their_column(practitioner_client, maya_and_samuel, monday):
    maya, samuel = maya_and_samuel
    response = practitioner_client.get(SCHEDULE, {"date": monday.isoformat()})
    assert [c.practitioner.name for c in response.context["layout"].columns] == ["Maya Chen, L.Ac."]
    assert change_url(maya) in response.text
    assert change_url(samuel) not in response.text
    week = practitioner_client.get(SCHEDULE, {"view": "week", "date": monday.isoformat()})
    assert "Samuel Okafor" not in week.text


def test_practitioner_can_only_view(practitioner_client, maya_and_samuel, run_action):
    maya, _ = maya_and_samuel
    page = practitioner_client.get(change_url(maya)).text
    assert 'name="_save"' not in page
    assert status_url(maya) not in page
    assert practitioner_client.post(status_url(maya)).status_code == 403
    assert practitioner_client.get(reverse("admin:booking_appointment_add")).status_code == 403
    run_action(practitioner_client, "confirm", [maya])
    maya.refresh_from_db()
    assert maya.status == Appointment.Status.REQUESTED
    assert 'value="confirm"' not in practitioner_client.get(LIST).text
    assert practitioner_client.get(EXPORT).status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        reverse("admin:booking_service_changelist"),
        reverse("admin:booking_practitioner_changelist"),
        reverse("admin:booking_clinicclosure_changelist"),
        reverse("admin:articles_article_changelist"),
    ],
)
def test_practitioner_has_no_access_to_the_rest(practitioner_client, url):
    assert practitioner_client.get(url).status_code == 403


def test_practitioner_group_member_without_a_linked_practitioner_sees_no_appointment(
    unlinked_practitioner_client, maya_and_samuel, monday
):
    maya, samuel = maya_and_samuel
    html = unlinked_practitioner_client.get(LIST).text
    assert maya.reference not in html and samuel.reference not in html
    assert unlinked_practitioner_client.get(change_url(maya)).status_code == 404
    schedule = unlinked_practitioner_client.get(SCHEDULE, {"date": monday.isoformat()})
    assert schedule.context["layout"].columns == []


def test_admin_home_counts_only_the_requests_a_practitioner_may_see(
    practitioner_client, front_desk_client, maya_and_samuel
):
    assert (
        "1</strong> request awaiting the front desk's decision"
        in practitioner_client.get(reverse("admin:index")).text
    )
    home = front_desk_client.get(reverse("admin:index")).text
    assert "2</strong> requests awaiting a decision" in home
    assert LIST + "?status__exact=requested" in home


# Content editor.


def test_content_editor_works_on_articles_only(content_editor_client, maya_and_samuel):
    for model in ("article", "topic"):
        assert (
            content_editor_client.get(reverse(f"admin:articles_{model}_changelist")).status_code
            == 200
        )
        assert content_editor_client.get(reverse(f"admin:articles_{model}_add")).status_code == 200
    maya, _ = maya_and_samuel
    for url in (
        LIST,
        change_url(maya),
        SCHEDULE,
        EXPORT,
        reverse("admin:booking_service_changelist"),
        reverse("admin:booking_practitioner_changelist"),
        reverse("admin:booking_clinicclosure_changelist"),
        reverse("admin:booking_clinic_changelist"),
    ):
        assert content_editor_client.get(url).status_code == 403, url
    home = content_editor_client.get(reverse("admin:index")).text
    assert "awaiting a decision" not in home
    assert "Appointments" not in home


# Superusers.


def test_superuser_sees_everything(admin_client, maya_and_samuel):
    maya, samuel = maya_and_samuel
    html = admin_client.get(LIST).text
    assert maya.reference in html and samuel.reference in html
    assert admin_client.get(EXPORT).status_code == 200
    assert admin_client.get(SCHEDULE).status_code == 200


# The admin's "view on site" address (/admin/r/<content type>/<id>/) is open to every
# staff account and checks no permission: it must never lead to a patient's own link,
# which shows the request and cancels it.


@pytest.mark.parametrize(
    "client_fixture", ["content_editor_client", "practitioner_client", "front_desk_client"]
)
def test_view_on_site_never_hands_staff_a_patients_link(request, client_fixture, maya_and_samuel):
    from django.contrib.contenttypes.models import ContentType

    client = request.getfixturevalue(client_fixture)
    content_type = ContentType.objects.get_for_model(Appointment)
    for appointment in maya_and_samuel:
        response = client.get(reverse("admin:view_on_site", args=[content_type.pk, appointment.pk]))
        assert response.status_code == 404
        assert appointment.token not in response.get("Location", "")
        assert appointment.token not in response.text


def test_a_practitioners_summary_does_not_ask_them_to_decide(practitioner_client, request_at):
    request_at(9)
    home = practitioner_client.get(reverse("admin:index")).text
    assert "1</strong> request awaiting the front desk's decision" in home
    assert "awaiting a decision" not in home


def test_a_practitioners_appointment_page_links_nowhere_they_may_not_go(
    practitioner_client, maya_and_samuel
):
    maya, _ = maya_and_samuel
    html = practitioner_client.get(change_url(maya)).text
    assert maya.service.name in html and maya.practitioner.name in html
    for link in re.findall(r'href="(/admin/booking/(?:service|practitioner)/[^"]*)"', html):
        assert practitioner_client.get(link).status_code == 200, link
