"""What a patient finds on the article list, topic and article pages."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from articles.models import Article


def titles_on(response):
    return re.findall(
        r'<h[23] class="h5 mb-1"><a href="[^"]+">([^<]+)</a>', response.content.decode()
    )


# The list


def test_list_shows_newest_first_ten_a_page(client, make_article):
    articles = [make_article() for _ in range(12)]  # each one a minute older than the last
    first = client.get(reverse("articles:list"))
    assert titles_on(first) == [a.title for a in articles[:10]]
    second = client.get(reverse("articles:list"), {"page": 2})
    assert titles_on(second) == [a.title for a in articles[10:]]
    assert "Page 2 of 2" in second.content.decode()


def test_page_beyond_the_last_is_not_found(client, make_article):
    make_article()
    assert client.get(reverse("articles:list"), {"page": 5}).status_code == 404


def test_empty_list_says_so(client, db):
    assert "There are no articles yet" in client.get(reverse("articles:list")).content.decode()


@pytest.mark.parametrize(
    "field, text",
    [
        ("title", "Sciatica and you"),
        ("summary", "A short note on sciatica."),
        ("body", "Pain that runs down the leg is called sciatica."),
    ],
)
def test_search_finds_words_in_title_summary_or_body(client, make_article, field, text):
    match = make_article(**{field: text})
    other = make_article(title="Your first visit", summary="What to wear.", body="Loose clothes.")
    response = client.get(reverse("articles:list"), {"q": "SCIATICA"})
    assert titles_on(response) == [match.title]
    assert other.title not in titles_on(response)
    assert "1 article matches “SCIATICA”" in response.content.decode()


def test_search_needs_every_word(client, make_article):
    both = make_article(title="Sciatica and posture")
    make_article(title="Sciatica on its own")
    assert titles_on(client.get(reverse("articles:list"), {"q": "sciatica posture"})) == [
        both.title
    ]


def test_search_results_keep_the_query_across_pages(client, make_article):
    for _ in range(11):
        make_article(title="Sciatica notes")
    html = client.get(reverse("articles:list"), {"q": "sciatica"}).content.decode()
    assert "?q=sciatica&amp;page=2" in html


def test_empty_search_result_says_so_and_suggests_topics(client, published, topic):
    response = client.get(reverse("articles:list"), {"q": "zebra"})
    html = response.content.decode()
    assert "No articles match “zebra”" in html
    assert 'class="topic-suggestions' in html
    assert f'<a href="{topic.get_absolute_url()}">{topic.name}</a>' in html


def test_search_text_is_escaped(client, published):
    html = client.get(reverse("articles:list"), {"q": "<script>alert(1)</script>"}).content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;" in html


def test_list_links_to_each_topic_with_published_articles(client, published, topic, other_topic):
    html = client.get(reverse("articles:list")).content.decode()
    assert f'href="{topic.get_absolute_url()}"' in html
    assert f'href="{other_topic.get_absolute_url()}"' not in html  # nothing published there yet


# Topic pages


def test_topic_page_lists_only_that_topics_articles(client, make_article, topic, other_topic):
    inside = make_article(topics=[topic])
    outside = make_article(topics=[other_topic])
    response = client.get(topic.get_absolute_url())
    assert response.status_code == 200
    assert titles_on(response) == [inside.title]
    assert outside.title not in response.content.decode()
    assert f"<h1>{topic.name}</h1>" in response.content.decode()


def test_search_within_a_topic_stays_in_that_topic(client, make_article, topic, other_topic):
    inside = make_article(title="Sciatica inside", topics=[topic])
    make_article(title="Sciatica outside", topics=[other_topic])
    assert titles_on(client.get(topic.get_absolute_url(), {"q": "sciatica"})) == [inside.title]


def test_unknown_topic_is_not_found(client, db):
    assert client.get(reverse("articles:topic", args=["no-such-topic"])).status_code == 404


# The article page


def test_article_page_has_the_title_as_its_only_h1(client, make_article):
    article = make_article(body="# A heading written as a title\n\n## Section\n\ntext")
    html = client.get(article.get_absolute_url()).content.decode()
    assert re.findall(r"<h1\b[^>]*>(.*?)</h1>", html) == [article.title]


def test_article_page_shows_reading_time_review_and_author(client, published):
    html = client.get(published.get_absolute_url()).content.decode()
    assert f"{published.reading_minutes} min read" in html
    assert "Medically reviewed by Sam Example on" in html
    assert '<time datetime="2026-01-05">January 5, 2026</time>' in html
    assert "By Dana Example" in html


def test_article_page_shows_contents_body_references_and_disclaimer(client, published):
    html = client.get(published.get_absolute_url()).content.decode()
    assert 'aria-labelledby="article-toc-heading"' in html
    assert '<a href="#section-how-it-may-work">How it may work</a>' in html
    assert "Needling stimulates nerves." in html
    references = re.search(r'<section class="article-references".*?</section>', html, re.S)
    assert references
    assert references.group().index("Vickers AJ") < references.group().index("Mu J")
    assert "Medical disclaimer" in html
    assert "not medical advice" in html
    assert "Get urgent medical care, not a booking" in html
    disclaimer = html[html.index("Get urgent medical care") :]
    for sign in ("bladder or bowel control", "groin", "legs that are getting weaker"):
        assert sign in disclaimer
    for sign in ("after a fall", "fever", "weight loss you cannot explain", "history of cancer"):
        assert sign in disclaimer


def test_call_to_action_books_with_the_articles_concern_and_origin(client, published):
    html = client.get(published.get_absolute_url()).content.decode()
    links = re.findall(
        r'<a class="btn btn-primary btn-lg" href="([^"]+)">Book a consultation', html
    )
    assert links
    for link in links:
        url = urlsplit(link.replace("&amp;", "&"))
        assert url.path == reverse("booking:request")
        assert parse_qs(url.query) == {"concern": ["chronic_pain"], "from": [published.slug]}


def test_call_to_action_without_a_concern_still_says_where_the_reader_came_from(make_article):
    article = make_article(concern="")
    assert article.booking_url() == f"{reverse('booking:request')}?from={article.slug}"


def test_related_articles_share_a_topic_most_shared_first_at_most_three(
    client, make_article, topic, other_topic
):
    article = make_article(topics=[topic, other_topic])
    sharing_both = make_article(topics=[topic, other_topic])
    sharing_one = [make_article(topics=[topic]) for _ in range(3)]
    unrelated = make_article(topics=[])
    response = client.get(article.get_absolute_url())
    related = response.context["related_articles"]
    assert related == [sharing_both, *sharing_one[:2]]
    html = response.content.decode()
    assert unrelated.title not in html
    assert html.count(f">{article.title}</") == 1  # never related to itself


def test_article_without_related_articles_has_no_related_section(client, make_article):
    article = make_article(topics=[])
    assert "Related articles" not in client.get(article.get_absolute_url()).content.decode()


def test_unknown_article_is_not_found(client, db):
    assert client.get(reverse("articles:detail", args=["no-such-article"])).status_code == 404


def test_published_article_without_a_date_cannot_be_saved(make_article):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        make_article(publish_at=None)


def test_publishing_in_a_form_without_a_date_means_now(make_article):
    article = make_article(status=Article.Status.DRAFT, publish_at=None)
    article.status = Article.Status.PUBLISHED
    article.full_clean()
    assert article.publish_at is not None
    assert article.is_published


def test_postgresql_search_understands_word_forms_and_ranks_titles_first(client, make_article):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("full-text search is used on PostgreSQL only")
    in_body = make_article(title="Your first visit", body="A single needle is placed.")
    in_title = make_article(
        title="Needles explained", publish_at=in_body.publish_at.replace(year=2020)
    )
    assert titles_on(client.get(reverse("articles:list"), {"q": "needles"})) == [
        in_title.title,
        in_body.title,
    ]


@pytest.mark.parametrize("query", ["\x00", "a\x00b", '"unclosed', "-", "!!! & | :*", "x" * 5000])
def test_odd_search_text_gets_an_ordinary_answer(client, published, query):
    assert client.get(reverse("articles:list"), {"q": query}).status_code == 200
