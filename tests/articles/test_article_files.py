"""import_articles and export_articles: Markdown files with YAML front matter, matched by slug."""

from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from articles.models import Article, Reference, Topic

STARTER = Path(settings.BASE_DIR) / "articles" / "starter"

GOOD = """---
title: 'Sciatica: what helps'
slug: sciatica-what-helps
summary: A short guide.
topics: [Understanding back pain, The evidence]
concern: sciatica
status: published
publish_date: 2026-03-02 09:00:00-05:00
author: Dana Example
reviewer: Sam Example
reviewed_on: 2026-02-23
references:
- text: 'NCCIH. Acupuncture: what you need to know.'
  url: https://www.nccih.nih.gov/health/acupuncture-what-you-need-to-know
- text: Mu J et al. Cochrane 2020.
---

Some text.

## A section

More text.
"""


def write(folder, name, text):
    path = Path(folder) / name
    path.write_text(text, encoding="utf-8")
    return path


def snapshot():
    """Everything import could change, including when each article last changed."""
    return [
        (
            a.slug,
            a.title,
            a.summary,
            a.body,
            a.body_html,
            a.concern,
            a.status,
            a.publish_at,
            a.author_name,
            a.reviewer_name,
            a.reviewed_on,
            a.updated_at,
            sorted(t.name for t in a.topics.all()),
            [(r.position, r.text, r.url) for r in a.references.all()],
        )
        for a in Article.objects.order_by("slug").prefetch_related("topics", "references")
    ] + [(t.name, t.slug) for t in Topic.objects.order_by("slug")]


def test_import_creates_an_article_with_topics_and_ordered_references(db, tmp_path):
    call_command("import_articles", write(tmp_path, "a.md", GOOD), verbosity=0)
    article = Article.objects.get(slug="sciatica-what-helps")
    assert article.title == "Sciatica: what helps"
    assert article.is_published
    assert article.publish_at.isoformat() == "2026-03-02T14:00:00+00:00"
    assert article.reviewed_on == date(2026, 2, 23)
    assert article.concern == "sciatica"
    assert article.body == "Some text.\n\n## A section\n\nMore text."
    assert 'id="section-a-section"' in article.body_html
    assert sorted(t.name for t in article.topics.all()) == [
        "The evidence",
        "Understanding back pain",
    ]
    assert [(r.position, r.text) for r in article.references.all()] == [
        (1, "NCCIH. Acupuncture: what you need to know."),
        (2, "Mu J et al. Cochrane 2020."),
    ]


def test_import_updates_the_article_with_the_same_slug(db, tmp_path):
    call_command("import_articles", write(tmp_path, "a.md", GOOD), verbosity=0)
    changed = GOOD.replace("A short guide.", "A better guide.").replace(
        "- text: Mu J et al. Cochrane 2020.\n", ""
    )
    call_command("import_articles", write(tmp_path, "a.md", changed), verbosity=0)
    article = Article.objects.get()
    assert article.summary == "A better guide."
    assert Reference.objects.filter(article=article).count() == 1


def test_import_reuses_existing_topics_by_name(db, tmp_path):
    Topic.objects.create(name="The evidence", slug="research")
    call_command("import_articles", write(tmp_path, "a.md", GOOD), verbosity=0)
    assert Topic.objects.filter(name="The evidence").count() == 1
    assert Topic.objects.count() == 2


def test_importing_the_same_file_twice_changes_nothing(db, tmp_path):
    path = write(tmp_path, "a.md", GOOD)
    call_command("import_articles", path, verbosity=0)
    before = snapshot()
    call_command("import_articles", path, verbosity=0)
    assert snapshot() == before


def test_export_then_import_changes_nothing_and_exports_the_same_files(
    db, tmp_path, make_article, topic
):
    make_article(
        title="Draft: with a colon",
        status=Article.Status.DRAFT,
        publish_at=None,
        reviewer_name="",
        reviewed_on=None,
        topics=[topic],
        body="Line one\r\nLine two with “quotes” — and ünïcode\n\n- a\n- b",
        references=["Ref one", "Ref two: with colon"],
    )
    make_article(concern="sciatica", summary="Multi\nline summary? No: one line, #hash")
    before = snapshot()
    call_command("export_articles", tmp_path / "first", verbosity=0)
    call_command("import_articles", tmp_path / "first", verbosity=0)
    assert snapshot() == before
    call_command("export_articles", tmp_path / "second", verbosity=0)
    first = {p.name: p.read_text() for p in (tmp_path / "first").iterdir()}
    second = {p.name: p.read_text() for p in (tmp_path / "second").iterdir()}
    assert first == second
    assert len(first) == 2


def test_starter_articles_export_exactly_as_they_are_written(db, tmp_path):
    call_command("import_articles", STARTER, verbosity=0)
    call_command("export_articles", tmp_path, verbosity=0)
    for path in STARTER.glob("*.md"):
        assert (tmp_path / path.name).read_text() == path.read_text(), path.name


def test_starter_articles_are_published_reviewed_and_referenced(db):
    call_command("import_articles", STARTER, verbosity=0)
    articles = Article.objects.published().prefetch_related("references")
    assert articles.count() >= 5
    for article in articles:
        assert article.reviewer_name and article.reviewed_on, article.slug
        assert "demo" in article.reviewer_name.lower(), article.slug
        assert len(article.references.all()) >= 2, article.slug
        assert article.toc_html, article.slug


def test_the_first_visit_article_gives_the_first_visit_its_booked_length(db):
    # A patient planning their day reads the article, then books: the two must agree.
    from booking.models import Service

    call_command("seed_demo", "--no-admin", verbosity=0, stdout=None)
    first_visit = Service.objects.get(slug="initial-consultation")
    article = Article.objects.get(slug="your-first-visit")
    assert f"about {first_visit.duration_minutes} minutes" in article.body
    assert "30 to 60 minutes" in article.body  # a usual session, as the sources say


def test_seed_demo_twice_changes_nothing(db):
    call_command("seed_demo", "--no-admin", verbosity=0, stdout=None)
    before = snapshot()
    assert len(before) > 5
    call_command("seed_demo", "--no-admin", verbosity=0)
    assert snapshot() == before


BAD_FILES = {
    "no-front-matter.md": ("Just some text.\n", "no front matter"),
    "unclosed.md": ("---\ntitle: x\n\nbody\n", "no closing line"),
    "bad-yaml.md": ("---\ntitle: Sciatica: what helps\nslug: x\n---\nbody\n", "not valid YAML"),
    "a-list.md": ("---\n- one\n- two\n---\nbody\n", "key: value"),
    "missing.md": ("---\ntitle: T\nslug: s\n---\nbody\n", "missing author, summary"),
    "typo.md": (GOOD.replace("reviewed_on:", "reviewd_on:"), "unknown key reviewd_on"),
    "status.md": (GOOD.replace("status: published", "status: live"), "status:"),
    "date.md": (GOOD.replace("2026-03-02 09:00:00-05:00", "next Tuesday"), "publish_date must"),
    "no-date.md": (GOOD.replace("publish_date: 2026-03-02 09:00:00-05:00\n", ""), "publish_date"),
    "unreviewed.md": (GOOD.replace("reviewer: Sam Example\n", ""), "reviewer: A published"),
    "concern.md": (GOOD.replace("concern: sciatica", "concern: headache"), "concern:"),
    "slug.md": (GOOD.replace("slug: sciatica-what-helps", "slug: not a slug!"), "slug:"),
    "page-slug.md": (
        GOOD.replace("slug: sciatica-what-helps", "slug: feed"),
        "slug: /articles/feed/ is the address of another page",
    ),
    "topics.md": (
        GOOD.replace("topics: [Understanding back pain, The evidence]", "topics: x"),
        "topics",
    ),
    "reference.md": (
        GOOD.replace("- text: Mu J et al. Cochrane 2020.", "- url: https://x.org"),
        "reference 2",
    ),
    "bad-url.md": (
        GOOD.replace("url: https://www.nccih", "url: not a url www.nccih"),
        "reference 1",
    ),
    "empty-body.md": (GOOD.split("\n---\n")[0] + "\n---\n\n", "body:"),
    "number-title.md": (
        GOOD.replace("title: 'Sciatica: what helps'", "title: 2026"),
        "title must be text",
    ),
    "latin1.md": (None, "not UTF-8"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_file_is_reported_with_its_name_and_reason_and_the_others_still_import(
    db, tmp_path, capsys, name
):
    text, reason = BAD_FILES[name]
    bad = tmp_path / name
    if text is None:
        bad.write_bytes("title: Caf\xe9".encode("latin-1"))
    else:
        bad.write_text(text, encoding="utf-8")
    good = write(tmp_path, "good.md", GOOD.replace("sciatica-what-helps", "good-one"))
    with pytest.raises(CommandError, match="1 of 2 files could not be imported"):
        call_command("import_articles", bad, good, verbosity=0)
    error = capsys.readouterr().err
    assert f"{bad}: " in error
    assert reason in error
    assert list(Article.objects.values_list("slug", flat=True)) == ["good-one"]


def test_bad_file_leaves_the_existing_article_and_topics_untouched(db, tmp_path):
    call_command("import_articles", write(tmp_path, "a.md", GOOD), verbosity=0)
    before = snapshot()
    broken = GOOD.replace("topics: [", "topics: [Brand new topic, ").replace(
        "concern: sciatica", "concern: headache"
    )
    with pytest.raises(CommandError):
        call_command("import_articles", write(tmp_path, "a.md", broken), verbosity=0)
    assert snapshot() == before


def test_missing_file_is_reported_and_the_command_fails(db, tmp_path, capsys):
    with pytest.raises(CommandError):
        call_command("import_articles", tmp_path / "nope.md", verbosity=0)
    assert "nope.md: no such file" in capsys.readouterr().err


def test_import_reports_what_it_did(db, tmp_path, capsys):
    path = write(tmp_path, "a.md", GOOD)
    call_command("import_articles", path)
    call_command("import_articles", path)
    out = capsys.readouterr().out
    assert "Articles: 1 created, 0 updated, 0 unchanged, 0 failed." in out
    assert "Articles: 0 created, 0 updated, 1 unchanged, 0 failed." in out
