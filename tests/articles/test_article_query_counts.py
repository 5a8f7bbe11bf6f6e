"""The public pages cost the same number of queries with 5 articles as with 500, and none
at all when the cache holds them."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from articles.markdown import render
from articles.models import Article, Reference, Topic
from clinic import generations
from tests.articles.conftest import BODY


def add_articles(count, topics, start=0):
    """Published, reviewed articles with two topics and two references each, in bulk."""
    rendered = render(BODY)
    now = timezone.now()
    articles = Article.objects.bulk_create(
        Article(
            title=f"Bulk article {number}",
            slug=f"bulk-{number}",
            summary=f"Summary {number}.",
            body=BODY,
            body_html=rendered.body_html,
            toc_html=rendered.toc_html,
            reading_minutes=rendered.reading_minutes,
            author_name="Dana Example",
            reviewer_name="Sam Example",
            reviewed_on=date(2026, 1, 5),
            status=Article.Status.PUBLISHED,
            publish_at=now - timedelta(hours=number + 1),
        )
        for number in range(start, start + count)
    )
    articles = list(Article.objects.filter(slug__in=[a.slug for a in articles]))
    Through = Article.topics.through
    Through.objects.bulk_create(
        Through(article=article, topic=topic)
        for index, article in enumerate(articles)
        for topic in (topics[index % len(topics)], topics[(index + 1) % len(topics)])
    )
    Reference.objects.bulk_create(
        Reference(article=article, position=position, text=f"Reference {position}")
        for article in articles
        for position in (1, 2)
    )
    return articles


@pytest.fixture
def topics(db):
    return [Topic.objects.create(name=f"Topic {n}", slug=f"topic-{n}") for n in range(4)]


def render_afresh(client, url):
    """GET `url` as a page the cache does not hold yet (a new generation of the pages)."""
    generations.bump(generations.PAGES)
    return client.get(url)


PAGES = {
    # paginator count, the page of articles, their topics, the topic list
    "list": (lambda topics: reverse("articles:list"), 4),
    # the same as the list, plus the search condition
    "search": (lambda topics: reverse("articles:list") + "?q=bulk", 4),
    # the topic, then as the list
    "topic": (lambda topics: topics[0].get_absolute_url(), 5),
    # the article, its topics, its references, related articles
    "detail": (lambda topics: reverse("articles:detail", args=["bulk-0"]), 4),
    # the latest articles, their topics
    "feed": (lambda topics: reverse("articles:feed"), 2),
    # the latest articles, their topics, the services, the practitioners' weekly hours
    "home": (lambda topics: reverse("home"), 4),
}
# A page about to be cached also asks when the next scheduled article appears.
NEXT_PUBLICATION = 1
# Searches are rendered every time (clinic/pagecache.py).
NOT_STORED = {"search"}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("count", [5, 500])
def test_public_pages_run_a_fixed_number_of_queries(
    client, clinic, topics, django_assert_num_queries, page, count
):
    add_articles(count, topics)
    url_for, expected = PAGES[page]
    url = url_for(topics)
    render_afresh(client, url)  # warm the cached clinic record, as on a running site
    generations.bump(generations.PAGES)
    stored = page not in NOT_STORED
    with django_assert_num_queries(expected + NEXT_PUBLICATION * stored):
        response = client.get(url)
    assert response.status_code == 200


@pytest.mark.parametrize("page", [page for page in PAGES if page not in NOT_STORED])
@pytest.mark.parametrize("count", [5, 500])
def test_public_pages_are_answered_from_the_cache_without_a_query(
    client, clinic, topics, django_assert_num_queries, page, count
):
    add_articles(count, topics)
    url = PAGES[page][0](topics)
    first = client.get(url)
    with django_assert_num_queries(0):
        again = client.get(url)
    assert again.status_code == 200
    assert again.content == first.content


def test_home_page_shows_the_latest_of_500_articles(client, clinic, topics):
    add_articles(500, topics)
    response = render_afresh(client, reverse("home"))
    assert response.context["latest_articles"][0].title == "Bulk article 0"
