"""Every public address answers only the methods it means; oversized posts are refused early."""

import pytest
from django.conf import settings
from django.utils import timezone

from articles.models import Article, Topic
from booking.models import Appointment
from tests.security.conftest import BOOK, nothing_stored_or_sent


@pytest.fixture
def public_urls(make_appointment, monday):
    """Every address of the public contract (DESIGN.md), with real objects behind them."""
    from tests.booking.conftest import local

    topic = Topic.objects.create(name="Sciatica", slug="sciatica")
    article = Article.objects.create(
        title="Acupuncture for sciatica",
        slug="acupuncture-for-sciatica",
        summary="What the research says.",
        body="Thin needles.",
        author_name="Maya Chen",
        status=Article.Status.PUBLISHED,
        publish_at=timezone.now() - timezone.timedelta(days=1),
    )
    article.topics.add(topic)
    appointment = make_appointment(local(monday, 10))
    return {
        "/": "GET",
        "/articles/": "GET",
        "/articles/?q=needles": "GET",
        f"/articles/{article.slug}/": "GET",
        f"/articles/topic/{topic.slug}/": "GET",
        "/articles/feed/": "GET",
        "/book/": "POST",
        "/book/times/": "GET",
        "/book/received/": "GET",
        appointment.patient_url: "GET",
        appointment.patient_url + "cancel/": "POST",
        "/sitemap.xml": "GET",
        "/robots.txt": "GET",
        "/healthz": "GET",
    }


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_put_delete_and_patch_are_refused_on_every_public_url(client, public_urls, method):
    for url in public_urls:
        response = getattr(client, method)(url, data="status=cancelled")
        assert response.status_code == 405, (method, url, response.status_code)
        assert "GET" in response["Allow"], url
    assert Appointment.objects.get().status == Appointment.Status.REQUESTED


def test_post_is_refused_where_a_page_is_only_read(client, public_urls):
    for url, method in public_urls.items():
        if method == "GET":
            response = client.post(url, {"q": "x"})
            assert response.status_code == 405, (url, response.status_code)


def test_every_public_url_answers_get_and_head(client, public_urls):
    for url in public_urls:
        assert client.get(url).status_code == 200, url
        assert client.head(url).status_code == 200, url


def test_the_settings_bound_what_one_post_may_carry():
    # The request form needs a few kilobytes; an article in the admin far less than this.
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 2_621_440
    assert settings.DATA_UPLOAD_MAX_NUMBER_FIELDS <= 1000
    assert settings.DATA_UPLOAD_MAX_NUMBER_FILES <= 100


def test_a_ten_megabyte_post_is_refused_and_stores_nothing(client, request_data):
    data = request_data(message="x" * (10 * 1024 * 1024))
    response = client.post(BOOK, data)
    assert response.status_code in (400, 413)
    assert nothing_stored_or_sent()


def test_a_ten_megabyte_body_of_another_type_is_refused(client, request_data):
    response = client.post(BOOK, b"x" * (10 * 1024 * 1024), content_type="text/plain")
    assert response.status_code < 500
    assert nothing_stored_or_sent()


def test_five_thousand_fields_are_refused_and_store_nothing(client, request_data):
    data = request_data(**{f"field{n}": "x" for n in range(5000)})
    response = client.post(BOOK, data)
    assert response.status_code in (400, 413)
    assert nothing_stored_or_sent()


def test_five_thousand_values_of_one_field_are_refused(client, request_data):
    data = request_data(first_name=["Ada"] * 5000)
    response = client.post(BOOK, data)
    assert response.status_code in (400, 413)
    assert nothing_stored_or_sent()


def test_a_multipart_upload_to_the_form_books_nothing_unexpected(client, request_data):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = request_data(attachment=SimpleUploadedFile("x.html", b"<script>", "text/html"))
    response = client.post(BOOK, data)
    assert response.status_code == 302
    assert Appointment.objects.count() == 1


def test_a_json_body_is_not_read_as_a_form(client, request_data):
    response = client.post(BOOK, request_data(), content_type="application/json")
    assert response.status_code == 200
    assert nothing_stored_or_sent()


def test_a_body_with_broken_encoding_is_answered(client, request_data):
    body = b"first_name=%FF%FE&email=\xff\xfe&slot=\xc0\xaf"
    response = client.post(BOOK, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert nothing_stored_or_sent()
