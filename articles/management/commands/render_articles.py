"""Render every article's HTML again from its Markdown: run it after an upgrade."""

from django.core.management.base import BaseCommand
from django.db import transaction

from articles.models import Article
from clinic import generations


class Command(BaseCommand):
    help = (
        "Render every article's HTML and table of contents again from its Markdown, as "
        "saving it would. Articles keep the HTML they were saved with, so run this after "
        "an upgrade that changes how Markdown is rendered or sanitised. Only articles whose "
        "HTML changes are written; their modification time is kept."
    )

    def handle(self, *args, verbosity, **options):
        changed = total = 0
        articles = Article.objects.only("body", *Article.RENDERED_FIELDS)
        with transaction.atomic():
            for article in articles.order_by("pk").iterator(chunk_size=200):
                total += 1
                if article.render():
                    # update(), not save(): an editor's "last updated" stays theirs.
                    Article.objects.filter(pk=article.pk).update(
                        **{field: getattr(article, field) for field in Article.RENDERED_FIELDS}
                    )
                    changed += 1
            if changed:
                generations.changed(generations.PAGES)
        if verbosity >= 1:
            self.stdout.write(f"Rendered again: {changed} of {total} article(s) had changed.")
