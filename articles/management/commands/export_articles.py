"""Write every article to a folder as Markdown files with YAML front matter, one per slug."""

from pathlib import Path

from django.core.management.base import BaseCommand

from articles import frontmatter
from articles.models import Article


class Command(BaseCommand):
    help = (
        "Write every article (drafts included) to DIR as <slug>.md, in the format that "
        "import_articles reads. Existing files of the same name are replaced."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", metavar="DIR")

    def handle(self, *args, directory, verbosity, **options):
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        articles = Article.objects.prefetch_related("topics", "references").order_by("slug")
        for article in articles:
            path = folder / f"{article.slug}.md"
            path.write_text(frontmatter.dump(article), encoding="utf-8")
            if verbosity >= 2:
                self.stdout.write(f"Wrote {path}")
        if verbosity >= 1:
            self.stdout.write(f"Exported {len(articles)} articles to {folder}.")
