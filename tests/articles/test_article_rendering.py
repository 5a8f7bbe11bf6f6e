"""Markdown becomes HTML once, when an article is saved; a page view never parses it."""

import re
from unittest import mock

from articles.markdown import render
from articles.models import Article


def test_table_of_contents_lists_the_section_headings_with_working_links():
    rendered = render("Intro\n\n## How it may work\n\ntext\n\n### Nerves\n\ntext\n\n## Safety\n")
    assert '<a href="#section-how-it-may-work">How it may work</a>' in rendered.toc_html
    assert '<a href="#section-nerves">Nerves</a>' in rendered.toc_html
    assert '<a href="#section-safety">Safety</a>' in rendered.toc_html
    assert '<h2 id="section-how-it-may-work">' in rendered.body_html
    assert '<h3 id="section-nerves">' in rendered.body_html


def test_headings_without_latin_letters_get_numbered_ids_the_contents_link_to():
    rendered = render("## 针灸\n\ntext\n\n## Safety\n\ntext\n\n## 针灸\n\ntext\n\n## -- Note --\n")
    assert '<h2 id="section-1">针灸</h2>' in rendered.body_html
    assert '<h2 id="section-3">针灸</h2>' in rendered.body_html
    assert '<h2 id="section-note">-- Note --</h2>' in rendered.body_html
    assert '<a href="#section-1">针灸</a>' in rendered.toc_html
    assert '<a href="#section-3">针灸</a>' in rendered.toc_html
    assert '<a href="#section-note">-- Note --</a>' in rendered.toc_html


def test_every_contents_link_points_at_one_heading_on_the_page():
    rendered = render("## 1\n\n## 针灸\n\n## 2\n\n## Safety\n\n## Safety\n\n## ?\n\n## 针灸\n")
    ids = re.findall(r'<h2 id="([^"]+)">', rendered.body_html)
    links = re.findall(r'<a href="#([^"]+)">', rendered.toc_html)
    assert len(ids) == 7
    assert len(set(ids)) == 7
    assert links == ids


def test_article_with_one_heading_has_no_table_of_contents():
    assert render("Intro\n\n## Only one\n\ntext").toc_html == ""


def test_a_title_heading_in_the_body_becomes_a_section_heading():
    # The page's only h1 is the article's title.
    rendered = render("# Another title\n\ntext\n\n## Section\n")
    assert "<h1" not in rendered.body_html
    assert '<h2 id="section-another-title">Another title</h2>' in rendered.body_html


def test_reading_time_is_rounded_up_at_two_hundred_words_a_minute():
    assert render("word " * 10).reading_minutes == 1
    assert render("word " * 200).reading_minutes == 1
    assert render("word " * 201).reading_minutes == 2
    assert render("word " * 1000).reading_minutes == 5


def test_saving_an_article_stores_its_html_contents_and_reading_time(make_article):
    article = make_article(body="## One\n\n" + "word " * 450 + "\n\n## Two\n\ntext")
    stored = Article.objects.get(pk=article.pk)
    assert '<h2 id="section-one">One</h2>' in stored.body_html
    assert 'href="#section-two"' in stored.toc_html
    assert stored.reading_minutes == 3


def test_editing_the_body_renders_it_again(make_article):
    article = make_article(body="Old text")
    article.body = "New **text**"
    article.save(update_fields=["body"])
    assert "<strong>text</strong>" in Article.objects.get(pk=article.pk).body_html


def test_line_endings_from_a_browser_are_stored_as_plain_newlines(make_article):
    article = make_article(body="\r\n\r\nFirst line\r\nsecond line\r\n\r\n")
    assert Article.objects.get(pk=article.pk).body == "First line\nsecond line"


def test_article_page_is_served_without_parsing_markdown(client, published):
    with (
        mock.patch("markdown.Markdown.convert", side_effect=AssertionError("parsed")),
        mock.patch("articles.markdown.render", side_effect=AssertionError("rendered")),
    ):
        response = client.get(published.get_absolute_url())
    assert response.status_code == 200
    assert '<h2 id="section-how-it-may-work">How it may work</h2>' in response.content.decode()
