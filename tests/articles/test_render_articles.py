"""`render_articles`: after an upgrade that changes how Markdown becomes HTML (a sanitising
rule, heading anchors), articles saved before it are rendered again from their Markdown,
and the cached pages show the new HTML at once."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from articles.models import Article

pytestmark = pytest.mark.django_db

BODY = (
    "## Why it hurts\n\nText.\n\n![A needle](https://example.org/needle.jpg)\n\n"
    "## What helps\n\nMore.\n"
)
# As an older version of the site stored it: an image from another site, no heading ids.
OLD_HTML = (
    '<h2>Why it hurts</h2>\n<p>Text.</p>\n<p><img alt="A needle" '
    'src="https://example.org/needle.jpg"></p>\n<h2>What helps</h2>\n<p>More.</p>'
)


def stored_as_before(article):
    Article.objects.filter(pk=article.pk).update(body=BODY, body_html=OLD_HTML, toc_html="")


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("render_articles", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_an_article_stored_by_an_older_version_is_rendered_again(published, clinic):
    visitor = Client()
    stored_as_before(published)
    assert "example.org/needle.jpg" in visitor.get(published.get_absolute_url()).content.decode()

    out, _ = run()

    published.refresh_from_db()
    assert "example.org" not in published.body_html  # left out, as a new save would
    assert "A needle" in published.body_html  # its description kept
    assert 'id="section-why-it-hurts"' in published.body_html
    assert "#section-why-it-hurts" in published.toc_html
    assert out == "Rendered again: 1 of 1 article(s) had changed.\n"
    # The cached page shows it at once, not after the cache's entries run out.
    page = visitor.get(published.get_absolute_url()).content.decode()
    assert "example.org/needle.jpg" not in page


def test_running_it_again_changes_nothing_and_says_so(published, draft):
    stored_as_before(published)
    run()
    updated_at = Article.objects.values_list("pk", "updated_at").order_by("pk")
    before = list(updated_at)
    out, _ = run()
    assert out == "Rendered again: 0 of 2 article(s) had changed.\n"
    assert list(updated_at) == before  # not even the modification time


def test_a_draft_is_rendered_again_and_stays_a_draft(draft):
    stored_as_before(draft)
    run("--verbosity", "0")
    draft.refresh_from_db()
    assert 'id="section-why-it-hurts"' in draft.body_html
    assert draft.status == Article.Status.DRAFT
