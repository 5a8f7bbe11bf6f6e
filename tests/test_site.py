"""The site-wide pages: home, 404, health check, robots.txt, security headers."""

from unittest import mock

from django.db import OperationalError
from django.urls import reverse


def test_home_page_shows_the_clinic_and_a_way_to_book(client, clinic):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Test Clinic" in html
    assert "Book a consultation" in html
    assert reverse("booking:request") in html
    assert "1 Test Road" in html
    assert "Mon–Fri 9–5" in html
    assert "(212) 555-0100" in html


def test_home_page_has_medical_clinic_structured_data(client, clinic):
    html = client.get("/").content.decode()
    assert '<script type="application/ld+json">' in html
    assert '"@type": "MedicalClinic"' in html


def test_structured_data_cannot_break_out_of_its_script(client, clinic):
    clinic.name = "</script><script>alert(1)</script>"
    clinic.save()
    html = client.get("/").content.decode()
    assert "<script>alert(1)</script>" not in html


def test_every_page_has_a_skip_link_to_the_main_content(client, clinic):
    html = client.get("/").content.decode()
    assert 'href="#main"' in html
    assert 'id="main"' in html


def test_unknown_page_is_a_friendly_404(client, clinic):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "couldn't find that page" in html
    assert "Traceback" not in html


def test_server_error_page_is_friendly_and_self_contained(client, db):
    from clinic.views import server_error

    response = server_error(mock.Mock())
    assert response.status_code == 500
    assert b"Sorry, something went wrong" in response.content


def test_healthz_answers_200_when_the_database_answers(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_answers_503_when_the_database_does_not(client, db):
    with mock.patch("clinic.views.connection.cursor", side_effect=OperationalError("down")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "down"


def test_robots_txt_points_at_the_sitemap_on_the_configured_site(client, db):
    response = client.get("/robots.txt", HTTP_HOST="localhost")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert "Sitemap: https://clinic.test/sitemap.xml" in response.content.decode()
    assert "Disallow: /admin/" in response.content.decode()


def test_sitemap_lists_the_main_pages_on_the_configured_site_whatever_the_host(client, db):
    response = client.get("/sitemap.xml", HTTP_HOST="localhost")
    assert response.status_code == 200
    body = response.content.decode()
    for path in ("/", "/articles/", "/book/"):
        assert f"<loc>https://clinic.test{path}</loc>" in body
    assert "localhost" not in body


def test_security_headers_are_sent(client, clinic):
    response = client.get("/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_stylesheets_come_from_our_own_static_files(client, clinic):
    html = client.get("/").content.decode()
    assert "bootstrap/css/bootstrap" in html
    assert "cdn" not in html.lower()


def structured_clinic(html):
    import json
    import re

    blocks = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    return next(d for d in map(json.loads, blocks) if d.get("@type") == "MedicalClinic")


def test_opening_hours_in_structured_data_are_what_search_engines_read(client, practitioner):
    """schema.org wants days and 24-hour times, not the footer's words ("Mon–Fri 9–5"):
    the hours practitioners work, joined across them."""
    from datetime import time

    from booking.models import Practitioner, WorkingHours

    other = Practitioner.objects.create(name="Samuel Okafor", slug="samuel")
    WorkingHours.objects.create(
        practitioner=other, weekday=0, start_time=time(16), end_time=time(19)
    )
    clinic = structured_clinic(client.get("/").content.decode())
    assert "openingHours" not in clinic
    hours = {
        (spec["dayOfWeek"].rsplit("/", 1)[-1], spec["opens"], spec["closes"])
        for spec in clinic["openingHoursSpecification"]
    }
    assert hours == {
        ("Monday", "09:00", "19:00"),
        *((day, "09:00", "17:00") for day in ("Tuesday", "Wednesday", "Thursday", "Friday")),
        ("Saturday", "09:00", "13:00"),
    }


def test_new_working_hours_reach_the_cached_home_page_at_once(client, practitioner):
    from datetime import time

    from booking.models import WorkingHours

    client.get("/")  # stored in the page cache
    WorkingHours.objects.create(
        practitioner=practitioner, weekday=6, start_time=time(10), end_time=time(14)
    )
    clinic = structured_clinic(client.get("/").content.decode())
    days = {spec["dayOfWeek"].rsplit("/", 1)[-1] for spec in clinic["openingHoursSpecification"]}
    assert "Sunday" in days
