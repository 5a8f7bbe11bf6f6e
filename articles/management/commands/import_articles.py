"""Create or update articles from Markdown files with YAML front matter (see frontmatter.py)."""

from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from articles import frontmatter


class Command(BaseCommand):
    help = (
        "Create or update articles, matched by slug, from Markdown files with YAML front matter. "
        "A folder imports every .md file in it. A file that cannot be imported is reported with "
        "the reason, and the others are still imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH", help="a .md file or a folder")

    def handle(self, *args, paths, verbosity, **options):
        files = []
        for name in paths:
            path = Path(name)
            files.extend(sorted(path.glob("*.md")) if path.is_dir() else [path])
        outcomes = Counter()
        for path in files:
            try:
                outcome = frontmatter.save(frontmatter.read(path))
            except frontmatter.ArticleFileError as error:
                outcome = "failed"
                self.stderr.write(f"{path}: {error}")
            else:
                # Unchanged files are the usual case on a re-run: only said when asked.
                if verbosity >= (2 if outcome == "unchanged" else 1):
                    self.stdout.write(f"{outcome.capitalize()}: {path}")
            outcomes[outcome] += 1
        if verbosity >= 1:
            self.stdout.write(
                f"Articles: {outcomes['created']} created, {outcomes['updated']} updated, "
                f"{outcomes['unchanged']} unchanged, {outcomes['failed']} failed."
            )
        if outcomes["failed"]:
            raise CommandError(
                f"{outcomes['failed']} of {len(files)} files could not be imported (see above)."
            )
