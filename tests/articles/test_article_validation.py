"""What an editor cannot save, with the reason shown on the field at fault."""

from datetime import UTC, date, datetime, timedelta
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from articles.models import Article, Topic


def add_article(client, **fields):
    """Post the admin's add form for a published article, with `fields` changed."""
    data = {
        "title": "Heat or ice?",
        "slug": "heat-or-ice",
        "summary": "A summary.",
        "body": "text",
        "status": "published",
        "author_name": "Dana Example",
        "reviewer_name": "Sam Example",
        "reviewed_on": "2026-01-05",
        "references-TOTAL_FORMS": "0",
        "references-INITIAL_FORMS": "0",
    }
    data.update(fields)
    return client.post(reverse("admin:articles_article_add"), data)


def field_errors(response, field):
    return response.context["adminform"].form.errors.get(field, [])


# The review date


def test_admin_refuses_a_review_date_still_to_come(editor_client):
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = add_article(editor_client, reviewed_on=tomorrow.isoformat())
    assert response.status_code == 200
    assert field_errors(response, "reviewed_on") == [
        "The review date cannot be in the future: give the day the article was reviewed."
    ]
    assert not Article.objects.exists()


def test_an_article_reviewed_today_is_accepted(editor_client):
    response = add_article(editor_client, reviewed_on=timezone.localdate().isoformat())
    assert response.status_code == 302
    assert Article.objects.get().reviewed_on == timezone.localdate()


def test_today_is_the_clinics_date_not_the_servers(make_article, settings):
    # 03:30 UTC on March 10 is still the evening of March 9 in New York.
    settings.TIME_ZONE = "America/New_York"
    article = make_article(status=Article.Status.DRAFT)
    evening = datetime(2026, 3, 10, 3, 30, tzinfo=UTC)
    with mock.patch("django.utils.timezone.now", return_value=evening):
        article.reviewed_on = date(2026, 3, 9)
        article.full_clean()
        article.reviewed_on = date(2026, 3, 10)
        with pytest.raises(ValidationError) as refused:
            article.full_clean()
    assert list(refused.value.message_dict) == ["reviewed_on"]


# The address


def test_admin_refuses_a_slug_whose_address_is_another_page(editor_client):
    response = add_article(editor_client, slug="feed")
    assert response.status_code == 200
    assert field_errors(response, "slug") == [
        "/articles/feed/ is the address of another page: choose another slug."
    ]
    assert not Article.objects.exists()


def test_an_article_called_topic_is_accepted_and_reachable(editor_client):
    # /articles/topic/ is no page of its own: topics live one level further down.
    assert add_article(editor_client, slug="topic").status_code == 302
    response = editor_client.get("/articles/topic/")
    assert response.status_code == 200
    assert response.context["article"].slug == "topic"


@pytest.mark.parametrize("slug", ["feed", "topic"])
def test_any_topic_slug_leads_to_its_topic(client, make_article, slug):
    topic = Topic(name="Feeds", slug=slug)
    topic.full_clean()
    topic.save()
    make_article(topics=[topic])
    response = client.get(f"/articles/topic/{slug}/")
    assert response.status_code == 200
    assert response.context["topic"] == topic
