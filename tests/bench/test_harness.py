"""The benchmark's own parts: the floor it measures against and the data it measures with."""

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import resolve
from django.utils import timezone

from articles.models import Article
from bench import data, report, run
from bench.floor_urls import FLOOR_BODY
from booking.models import Appointment, Practitioner, Service


def test_floor_answers_any_path_with_its_constant_through_the_sites_middleware(client, settings):
    settings.ROOT_URLCONF = "bench.floor_urls"

    response = client.get("/articles/anything/", secure=True)

    assert response.status_code == 200
    assert response.content == FLOOR_BODY
    # The same middleware as every page: the floor is Django's cost, not a bare WSGI app.
    assert "Content-Security-Policy" in response.headers
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("environment", "expected"),
    [({"DJANGO_ROOT_URLCONF": "bench.floor_urls"}, "bench.floor_urls"), ({}, "clinic.urls")],
)
def test_settings_take_the_urlconf_from_the_environment_only_when_set(environment, expected):
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SECRET_KEY": "test-only",
        "CLINIC_SITE_URL": "https://clinic.test",
        **environment,
    }
    out = subprocess.run(
        [sys.executable, "-c", "from clinic import settings; print(settings.ROOT_URLCONF)"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert out.stdout.strip() == expected


@pytest.fixture
def services(service, short_service):
    follow_up = Service.objects.create(name="Follow-up", slug="follow-up", duration_minutes=45)
    return [service, follow_up, short_service]


def test_generated_appointments_fill_two_years_without_double_booking(services, practitioner):
    created = data.generate_appointments(3000)

    assert created == Appointment.objects.count() == 3000
    assert Practitioner.objects.active().count() == data.PRACTITIONER_COUNT
    now = timezone.now()
    rows = list(Appointment.objects.order_by("practitioner", "start"))
    for earlier, later in zip(rows, rows[1:], strict=False):
        if earlier.practitioner_id == later.practitioner_id:
            assert later.start >= earlier.end, f"{earlier.reference} overlaps {later.reference}"
    past = {a.status for a in rows if a.start < now}
    ahead = {a.status for a in rows if a.start >= now}
    assert past == {"completed", "cancelled"}
    assert ahead == {"requested", "confirmed"}
    assert min(a.start for a in rows) < now - timedelta(days=600)
    assert max(a.start for a in rows) <= now + timedelta(days=data.FUTURE_DAYS + 1)


def test_generated_articles_are_published_rendered_and_filed_under_topics(db):
    assert data.generate_articles(20) == 20

    generated = Article.objects.published().filter(slug__startswith="bench-article-")
    assert generated.count() == 20
    for article in generated.prefetch_related("topics", "references"):
        assert article.body_html.startswith("<")
        assert article.topics.exists()
        assert len(article.references.all()) == 2


def test_setup_builds_the_demo_site_and_names_the_pages_to_measure(db):
    result = data.setup(articles=5, appointments=2000, admin_password="a-long-bench-password")

    assert result["practitioners"] == data.PRACTITIONER_COUNT
    assert result["generated_appointments"] == 2000
    assert resolve(result["article"].rstrip("/") + "/").view_name == "articles:detail"
    assert resolve(result["topic"]).view_name == "articles:topic"
    assert resolve(result["request"]).view_name == "booking:request-detail"
    admin = get_user_model().objects.get(username=data.ADMIN_USERNAME)
    assert admin.is_superuser
    assert admin.check_password("a-long-bench-password")


def test_forgetting_posted_requests_keeps_every_other_appointment(services, practitioner):
    data.generate_appointments(200)
    posted = Appointment.objects.order_by("pk")[:3]
    Appointment.objects.filter(pk__in=[a.pk for a in posted]).update(
        email="bench-post-run-1@example.com"
    )

    assert data.posted(forget=True) == {"posted": 3}
    assert Appointment.objects.count() == 197


# VACUUM cannot run in a transaction: this test commits, and so restores what the
# migrations made afterwards (serialized_rollback, tests/conftest.py).
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_postgresql_is_measured_with_the_statistics_autovacuum_keeps(services, practitioner):
    """A freshly bulk-loaded table has no statistics: its plans are not a running site's."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner statistics and visibility map: run with DATABASE_URL")
    data.generate_appointments(500)

    assert data.settle_statistics() is True
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'booking_appointment'")
        estimated = cursor.fetchone()[0]
    assert estimated == Appointment.objects.count() == 500


def test_statistics_are_left_alone_on_sqlite(db):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's side of settle_statistics")
    assert data.settle_statistics() is False


def test_each_page_is_compared_with_the_floors_measured_around_it():
    def measured(seq, page, rps):
        return {"seq": seq, "page": page, "variant": "SQLite volume", "rps": rps, "started": seq}

    rows = report.with_floor_ratios(
        [measured(1, "floor", 1000), measured(2, "home", 450), measured(3, "floor", 800)]
    )

    assert [row["page"] for row in rows] == ["home"]
    assert rows[0]["ratio"] == pytest.approx(0.5)


def test_a_booking_runs_cpu_is_counted_per_process_and_bounds_the_rate():
    def post(seq, rep, workers, sink):
        return {
            "seq": seq,
            "rep": rep,
            "page": "book_post",
            "variant": "SQLite volume",
            "rps": 90,
            "started": seq,
            "cpu_ms": {"gunicorn workers": workers, "SMTP server": sink, "load client": 1.0},
        }

    def floor(seq):
        return {"seq": seq, "page": "floor", "variant": "floor", "rps": 2000, "started": seq}

    results = {
        "measurements": [floor(1), post(2, 1, 14.0, 1.0), floor(3), post(4, 2, 18.0, 3.0)],
        "variants": [{"name": "SQLite volume", "database": "SQLite", "dataset": "volume"}],
        "machine": {"nproc": 2},
    }
    summary, floors = report.summarise(results)
    table = "\n".join(report.cpu_per_booking(results, summary, floors))

    # Medians: workers 16, SMTP 2, client 1, so 19 ms a booking; 2 cores, 105 a second.
    assert "| SQLite volume | 16.0 | 2.0 | 1.0 | 19.0 | 105 | 0.05 |" in table


def test_the_cpu_meter_reads_what_its_processes_used():
    class ThisProcess:
        def workers(self):
            return [os.getpid()]

    meter = run.CpuMeter(ThisProcess(), None, "SQLite")
    until = time.process_time() + 0.2
    while time.process_time() < until:
        pass
    used = meter.per_request_ms(2)

    assert set(used) == {"gunicorn workers", "load client"}
    assert 80 <= used["gunicorn workers"] <= 150  # 200 ms over two requests, ticks of 10 ms
