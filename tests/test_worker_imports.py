"""What a web worker loads: heavy libraries only where they are used (docs/PERFORMANCE.md).

Every module a worker imports stays in its memory for its whole life, in every worker.
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LOADED = """
import json, sys
from clinic.wsgi import application
from django.urls import get_resolver
get_resolver().url_patterns  # every view module, as a worker's first request imports them
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


@pytest.fixture(scope="module")
def loaded_on_sqlite(tmp_path_factory):
    """The top-level packages a worker of a site on SQLite has loaded."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('site') / 'db.sqlite3'}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "clinic.settings",
        "DJANGO_DEBUG": "false",
    }
    result = subprocess.run(
        [sys.executable, "-c", LOADED], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def test_a_site_on_sqlite_never_loads_the_postgresql_driver(loaded_on_sqlite):
    loaded = loaded_on_sqlite
    assert "django" in loaded and "booking" in loaded
    assert "psycopg" not in loaded  # about 10 MB per worker


def test_calendar_files_and_markdown_load_only_when_first_used(loaded_on_sqlite):
    loaded = loaded_on_sqlite
    # A confirmation's .ics, and an article being saved: not what most requests do.
    assert not {"icalendar", "dateutil", "markdown", "nh3"} & loaded


ARENAS = """
import ctypes, runpy, sys, threading

if sys.argv[1] == "with-config":
    runpy.run_path("gunicorn.conf.py")  # as gunicorn's master does, before it forks workers

# The email thread's kind of work: allocations too large for Python's own allocator.
thread = threading.Thread(target=lambda: [bytes(4096) for _ in range(100)])
thread.start()
thread.join()

libc = ctypes.CDLL("libc.so.6")
libc.open_memstream.restype = ctypes.c_void_p
buffer, size = ctypes.c_char_p(), ctypes.c_size_t()
stream = ctypes.c_void_p(libc.open_memstream(ctypes.byref(buffer), ctypes.byref(size)))
libc.malloc_info(0, stream)
libc.fclose(stream)
print(ctypes.string_at(buffer, size.value).decode().count("<heap nr="))
"""


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="glibc's malloc arenas: Linux with glibc only"
)
@pytest.mark.parametrize(("how", "arenas"), [("with-config", 1), ("without", 2)])
def test_a_workers_threads_share_one_malloc_arena(how, arenas):
    """gunicorn.conf.py: the email thread takes no arena of its own (about 2 MB a worker)."""
    result = subprocess.run(
        [sys.executable, "-c", ARENAS, how], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == arenas


FROZEN = """
import gc, json, runpy
from clinic.wsgi import application  # gunicorn's master loads the site (preload_app)

config = runpy.run_path("gunicorn.conf.py")
tracked_before = len(gc.get_objects())
config["pre_fork"](None, None)  # as the master does before forking each worker
print(json.dumps({
    "before": tracked_before,
    "frozen": gc.get_freeze_count(),
    # What a worker's full collection would still walk.
    "walked": len(gc.get_objects()),
}))
"""


def test_a_workers_garbage_collection_leaves_the_loaded_site_alone(tmp_path):
    """gunicorn.conf.py: what the master loaded is frozen before each fork.

    Otherwise every full collection in a worker walks the site's tens of thousands of
    objects again (a pause of about 35 ms for some request), and writes to their memory,
    copying it out of what the worker shares with the master.
    """
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "clinic.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "a-secret-key-for-this-test-only-" + "x" * 40,
        "CLINIC_SITE_URL": "https://clinic.example.com",
    }
    result = subprocess.run(
        [sys.executable, "-c", FROZEN], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert counts["before"] > 50_000  # the site is loaded: what there is to freeze
    assert counts["frozen"] >= 0.99 * counts["before"]
    assert counts["walked"] < 0.01 * counts["before"]
