"""A draft or a scheduled article never reaches a patient: no page, feed, sitemap or search."""

from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse

from articles.models import Article


def test_published_article_is_shown_and_hidden_ones_are_not_on_the_list(
    client, published, hidden_articles
):
    html = client.get(reverse("articles:list")).content.decode()
    assert published.title in html
    for article in hidden_articles:
        assert article.title not in html


@pytest.mark.parametrize("kind", ["draft", "scheduled", "unpublished_draft_with_past_date"])
def test_hidden_article_page_is_not_found(client, request, kind):
    article = request.getfixturevalue(kind)
    response = client.get(article.get_absolute_url())
    assert response.status_code == 404
    assert article.title not in response.content.decode()


def test_published_article_page_is_found(client, published):
    assert client.get(published.get_absolute_url()).status_code == 200


def test_topic_page_shows_only_published_articles(client, topic, published, hidden_articles):
    html = client.get(topic.get_absolute_url()).content.decode()
    assert published.title in html
    for article in hidden_articles:
        assert article.title not in html


def test_search_never_finds_hidden_articles(client, published, hidden_articles):
    # Every hidden article has "moxibustion" in its title; the published one does not.
    html = client.get(reverse("articles:list"), {"q": "moxibustion"}).content.decode()
    for article in hidden_articles:
        assert article.title not in html
    assert "No articles match" in html


def test_search_within_a_topic_never_finds_hidden_articles(client, topic, hidden_articles):
    html = client.get(topic.get_absolute_url(), {"q": "moxibustion"}).content.decode()
    for article in hidden_articles:
        assert article.title not in html


def test_feed_lists_only_published_articles(client, published, hidden_articles):
    xml = client.get(reverse("articles:feed")).content.decode()
    assert published.title in xml
    for article in hidden_articles:
        assert article.title not in xml
        assert article.slug not in xml


def test_sitemap_lists_only_published_articles(client, published, hidden_articles):
    xml = client.get(reverse("sitemap")).content.decode()
    assert published.get_absolute_url() in xml
    for article in hidden_articles:
        assert article.get_absolute_url() not in xml


def test_sitemap_leaves_out_topics_with_only_hidden_articles(client, other_topic, draft):
    draft.topics.set([other_topic])
    xml = client.get(reverse("sitemap")).content.decode()
    assert other_topic.get_absolute_url() not in xml


def test_home_page_shows_only_published_articles(client, published, hidden_articles):
    html = client.get(reverse("home")).content.decode()
    assert published.title in html
    for article in hidden_articles:
        assert article.title not in html


def test_related_articles_never_include_hidden_ones(
    client, make_article, topic, published, hidden_articles
):
    html = client.get(published.get_absolute_url()).content.decode()
    for article in hidden_articles:
        assert article.title not in html


def test_topic_counts_leave_out_hidden_articles(client, topic, published, hidden_articles):
    html = client.get(reverse("articles:list")).content.decode()
    assert f'{topic.name}</a> <span class="text-body-secondary small">(1)' in html


def test_scheduled_article_appears_once_its_date_has_come(client, scheduled):
    later = scheduled.publish_at + timedelta(seconds=1)
    with mock.patch("articles.models.timezone.now", return_value=later):
        assert client.get(scheduled.get_absolute_url()).status_code == 200
        assert Article.objects.published().filter(pk=scheduled.pk).exists()
