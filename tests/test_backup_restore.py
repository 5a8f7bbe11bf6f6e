"""A backup made as the README says restores into a fresh database with every appointment."""

import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import timedelta

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

# Committed, so that pg_dump (another session) sees the rows; the groups that migrations
# create are put back afterwards for the tests that follow.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

# What a restored site must still show: every appointment, as it was.
APPOINTMENTS = (
    "SELECT reference, status, start, first_name, email FROM booking_appointment ORDER BY reference"
)


@pytest.fixture
def appointments(make_appointment):
    """A few appointments in different states, with their history and emails."""
    soon = timezone.now() + timedelta(days=7)
    made = [
        make_appointment(soon + timedelta(hours=2 * n), email=f"p{n}@example.com", first_name=name)
        for n, name in enumerate(["Zoë", "José-María", "O'Brien", "李小龙"])
    ]
    made[1].confirm()
    made[2].decline(note="Fully booked that week.")
    return made


def stored(rows):
    # As text: Django's SQLite connection reads times as datetimes, a plain one as strings.
    return [(ref, status, str(start), name, email) for ref, status, start, name, email in rows]


def test_sqlite_backup_api_copy_restores_every_appointment(appointments, tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite backup; this run uses PostgreSQL (see the pg_dump test)")
    backup = tmp_path / "backup.sqlite3"
    # The online backup API (what `sqlite3 db.sqlite3 ".backup FILE"` uses): a consistent
    # copy while the site keeps writing, unlike copying the file and its WAL by hand.
    connection.ensure_connection()
    with sqlite3.connect(backup) as target:
        connection.connection.backup(target)
    target.close()
    before = stored(connection.connection.execute(APPOINTMENTS).fetchall())

    restored = tmp_path / "restored.sqlite3"
    shutil.copy(backup, restored)
    with sqlite3.connect(restored) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        after = stored(copy.execute(APPOINTMENTS).fetchall())
    copy.close()
    assert len(after) == len(appointments) == 4
    assert after == before

    # The site itself runs on the restored file: migrations current, every request found.
    site = run_site(f"sqlite:///{restored}")
    assert site.splitlines() == sorted(a.reference for a in appointments)


def test_pg_dump_restores_into_a_fresh_database_with_every_appointment(appointments, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("pg_dump and pg_restore need PostgreSQL: run with DATABASE_URL=postgres://...")
    missing = [tool for tool in ("pg_dump", "pg_restore") if not shutil.which(tool)]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} not installed (Debian: apt-get install postgresql-client)"
        )
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    where = ["-h", db["HOST"] or "localhost", "-p", str(db["PORT"] or 5432), "-U", db["USER"]]
    dump = tmp_path / "clinic.dump"
    subprocess.run(
        ["pg_dump", "-Fc", "--no-owner", *where, "-f", str(dump), db["NAME"]],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    with connection.cursor() as cursor:
        cursor.execute(APPOINTMENTS)
        before = stored(cursor.fetchall())

    fresh = f"{db['NAME']}_restore"
    admin = psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], password=db.get("PASSWORD"),
        dbname="postgres", autocommit=True,
    )  # fmt: skip
    try:
        admin.execute(f'DROP DATABASE IF EXISTS "{fresh}"')
        admin.execute(f'CREATE DATABASE "{fresh}"')
        result = subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", *where, "-d", fresh, str(dump)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        with psycopg.connect(
            host=db["HOST"], port=db["PORT"], user=db["USER"], password=db.get("PASSWORD"),
            dbname=fresh,
        ) as copy:  # fmt: skip
            after = stored(copy.execute(APPOINTMENTS).fetchall())
            # The guard against double booking came back too, not only the rows.
            constraint = copy.execute(
                "SELECT 1 FROM pg_constraint WHERE conname = 'booking_appointment_no_overlap'"
            ).fetchone()
        assert len(after) == 4
        assert after == before
        assert constraint == (1,)

        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{fresh}"
        site = run_site(url, PGPASSWORD=env["PGPASSWORD"])
        assert site.splitlines() == sorted(a.reference for a in appointments)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
        admin.close()


def run_site(database_url, **env):
    """Start Django on the restored database: migrations must be current; print references."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SECRET_KEY": "test-only",
        "CLINIC_SITE_URL": "https://clinic.test",
        "DATABASE_URL": database_url,
        **env,
    }
    check = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check"],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    code = (
        "from booking.models import Appointment; "
        "print('\\n'.join(sorted(Appointment.objects.values_list('reference', flat=True))))"
    )
    shell = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shell.returncode == 0, shell.stderr
    return shell.stdout
