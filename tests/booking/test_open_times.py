"""The open-times JSON behind the form's script: free times only, never anyone's details."""

from django.urls import reverse

from tests.booking.conftest import local

TIMES = reverse("booking:times")


def test_open_times_of_a_day(client, service, practitioner, monday):
    response = client.get(TIMES, {"service": service.slug, "day": monday.isoformat()})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert data["day"] == monday.isoformat()
    assert data["times"][0] == {"value": local(monday, 9).isoformat(), "label": "9:00 AM"}
    assert len(data["days"]) == 8
    assert [d for d in data["days"] if d["current"]][0]["date"] == monday.isoformat()
    assert "no-store" in response["Cache-Control"]


def test_open_times_say_where_each_other_choice_leads(
    client, service, short_service, practitioner, monday
):
    """The script moves the treatment and practitioner links along with the times."""
    query = {"service": service.slug, "practitioner": practitioner.slug, "day": monday}
    data = client.get(TIMES, {**query, "concern": "sciatica"}).json()
    assert (data["service_label"], data["practitioner_label"]) == (
        service.name,
        practitioner.name,
    )
    chat = data["choices"]["service"][short_service.slug]
    assert chat == (
        f"/book/?service={short_service.slug}&practitioner={practitioner.slug}"
        f"&day={monday.isoformat()}&concern=sciatica"
    )
    anyone = data["choices"]["practitioner"][""]
    assert anyone == f"/book/?service={service.slug}&day={monday.isoformat()}&concern=sciatica"


def test_open_times_hold_no_personal_data(client, service, practitioner, make_appointment, monday):
    make_appointment(
        local(monday, 10), first_name="Zelda", last_name="Zimmer", email="zelda@example.com"
    )
    response = client.get(
        TIMES, {"service": service.slug, "practitioner": practitioner.slug, "day": monday}
    )
    text = response.content.decode()
    for private in ("Zelda", "Zimmer", "zelda@", "5550123", "sciatica", "reference"):
        assert private not in text
    values = [t["value"] for t in response.json()["times"]]
    assert local(monday, 10).isoformat() not in values  # taken
    assert set(response.json()["times"][0]) == {"value", "label"}


def test_open_times_accept_only_reading(client, service, practitioner):
    assert client.post(TIMES, {"service": service.slug}).status_code == 405
