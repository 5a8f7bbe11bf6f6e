"""The feed as feed readers use it: conditional requests, and text pasted from elsewhere."""

import pytest
from django.test import Client
from django.urls import reverse

from articles.models import Article, Topic

FEED = reverse("articles:feed")


def test_a_withdrawn_article_leaves_the_feed_for_readers_that_ask_if_modified_since(
    published, make_article
):
    older = make_article(title="An older article")
    first = Client().get(FEED)
    assert published.title in first.content.decode()

    Article.objects.filter(pk=published.pk).unpublish()

    # Many feed readers revalidate with the date they saw, not the ETag. The feed's newest
    # date did not move when its newest article was withdrawn, so a date cannot tell.
    since = first.get("Last-Modified") or "Fri, 27 Nov 2099 00:00:00 GMT"
    again = Client().get(FEED, headers={"if-modified-since": since})
    assert again.status_code == 200
    assert published.title not in again.content.decode()
    assert older.title in again.content.decode()


def test_a_renamed_topic_reaches_readers_that_ask_if_modified_since(published, topic):
    first = Client().get(FEED)
    assert f"<category>{topic.name}</category>" in first.content.decode()
    topic.name = "What the trials found"
    topic.save()
    since = first.get("Last-Modified") or "Fri, 27 Nov 2099 00:00:00 GMT"
    again = Client().get(FEED, headers={"if-modified-since": since})
    assert again.status_code == 200
    assert "<category>What the trials found</category>" in again.content.decode()


@pytest.mark.parametrize("query", [{}, {"utm_source": "newsletter"}])
def test_the_feed_is_revalidated_by_its_content_not_its_dates(published, query):
    # Stored or not (a tracking parameter is never stored), a reader or proxy asks again
    # each time and gets a 304 only while the feed is the same.
    response = Client().get(FEED, query)
    assert "Last-Modified" not in response
    assert response["ETag"]
    same = Client().get(FEED, query, headers={"if-none-match": response["ETag"]})
    assert same.status_code == 304


def test_a_line_break_pasted_from_a_word_processor_does_not_take_the_feed_down(
    editor_client, published, topic
):
    # Word's manual line break is the control character \x0b, which XML cannot carry.
    url = reverse("admin:articles_article_change", args=[published.pk])
    response = editor_client.post(
        url,
        {
            "title": "Sciatica:\x0bwhat helps",
            "slug": published.slug,
            "summary": "What the main guideline\x0band reviews say.",
            "body": published.body,
            "topics": [topic.pk],
            "concern": "",
            "status": "published",
            "publish_at_0": published.publish_at.strftime("%Y-%m-%d"),
            "publish_at_1": published.publish_at.strftime("%H:%M:%S"),
            "author_name": "Dana\x0bExample",
            "reviewer_name": published.reviewer_name,
            "reviewed_on": published.reviewed_on.isoformat(),
            "references-TOTAL_FORMS": "0",
            "references-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    published.refresh_from_db()
    assert published.title == "Sciatica: what helps"
    assert published.summary == "What the main guideline and reviews say."
    assert published.author_name == "Dana Example"

    feed = Client().get(FEED)
    assert feed.status_code == 200
    assert "What the main guideline and reviews say." in feed.content.decode()


def test_a_topic_name_with_a_pasted_control_character_is_saved_without_it(editor_client):
    response = editor_client.post(
        reverse("admin:articles_topic_add"),
        {"name": "Neck\x0band shoulders", "slug": "neck", "description": ""},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Topic.objects.get(slug="neck").name == "Neck and shoulders"


def test_text_stored_with_a_control_character_before_still_leaves_a_readable_feed(published, topic):
    # Saved by an earlier version, or written without the admin's checks.
    Article.objects.filter(pk=published.pk).update(
        title="Sciatica:\x01 what helps",
        summary="Guideline\x1a and reviews",
        author_name="Dana\x02 Example",
    )
    Topic.objects.filter(pk=topic.pk).update(name="Back\x08 pain")
    feed = Client().get(FEED)
    assert feed.status_code == 200
    text = feed.content.decode()
    assert "<title>Sciatica: what helps</title>" in text
    assert "<category>Back pain</category>" in text
    assert "Dana Example" in text


def test_a_model_clean_turns_every_control_character_xml_cannot_carry_into_a_space(published):
    published.summary = "One\x01two\x1fthree\x0cfour"
    published.full_clean()
    assert published.summary == "One two three four"
