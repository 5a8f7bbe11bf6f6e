"""Concurrency and faults against real servers on loopback, reconciled afterwards.

    python -m bench.faults                 # everything, PostgreSQL restarted once (~2 min)
    python -m bench.faults --quick         # the same without restarting PostgreSQL (CI)

It builds a PostgreSQL database of its own (FAULTS_DATABASE, default clinic_faults, on the
server of DATABASE_URL or 127.0.0.1:5432), migrates it, loads the demo clinic
(`seed_demo --no-admin`), collects the static files, and starts gunicorn as deployed
(gunicorn.conf.py, 4 sync workers, debug off) with Redis as the shared cache (FAULTS_REDIS_URL,
default redis://127.0.0.1:6379/14, flushed first: give it a database of its own) and an SMTP
sink in this process. Then:

1. 50 patients post the same time at once through one gunicorn; then through two gunicorns
   on different ports sharing PostgreSQL and Redis. Exactly one may get it, the other 49
   must be told it was taken, and nothing may answer 5xx. With the default rate limit, the
   sixth request in an hour from one address is refused, whichever server it reaches.
2. While several patients book steadily (each their own times and email): a gunicorn worker
   is killed (SIGKILL), the SMTP server stops, PostgreSQL stops for a few seconds and starts
   again (`pg_ctlcluster`; skipped with --quick), the SMTP server returns. Patients resend
   what got no answer, as people press reload. Afterwards every success a patient saw must be
   exactly one stored appointment, nothing half-stored, no two appointments overlapping, and
   after `send_pending_emails` every email received exactly once; during the outage pages
   answer 503 with the friendly page, and the site answers again within 5 s of PostgreSQL
   returning, without restarting gunicorn.

It prints a pass/fail summary, writes docs/RELIABILITY.md between its markers (the quick
mode writes bench/results/RELIABILITY-quick.md), and exits 1 when a check fails, 2 when the
harness itself cannot run.
"""

import argparse
import base64
import contextlib
import datetime
import email
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from urllib.parse import urlsplit

from bench import booking_post
from bench.client import request
from bench.run import (
    PYTHON,
    ROOT,
    HarnessError,
    Server,
    count_server_errors,
    free_port,
    machine,
    postgres_admin_url,
    postgres_url,
    recreate_postgres_database,
    run_checked,
    server_environment,
)

RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "RELIABILITY.md"
BEGIN = "<!-- faults:begin (written by `make faults`: edit outside these markers) -->"
END = "<!-- faults:end -->"

PORTS = range(8400, 8490)
SMTP_PORTS = range(8490, 8500)
WORKERS = 4
RACERS = 50
BOOK = "/book/"
# The shortest visit leaves the most open times for the steady stream.
SERVICE = "phone-chat"
TAKEN = "has just been taken"
FRIENDLY_503 = "back in a moment"
DEFAULT_RATE = "5/h"
RECOVERY_BAR_SECONDS = 5.0
OUTAGE_SECONDS = 3.0


# ---------------------------------------------------------------------------- the mail sink


class MailSink:
    """An SMTP server in this process that keeps the subject of every message it accepts."""

    def __init__(self, port):
        self.port = port
        self.subjects = []
        self.lock = threading.Lock()
        self.controller = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook)
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.subjects.append(str(message["Subject"]))
        return "250 Message accepted for delivery"

    def start(self):
        from aiosmtpd.controller import Controller

        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def received(self):
        with self.lock:
            return Counter(self.subjects)


# ---------------------------------------------------------------------------- patients


@dataclass
class Visit:
    """One patient: the form they fetched, what they sent, and what the site told them."""

    email: str
    port: int
    cookies: dict
    data: dict
    fetched_at: float
    outcome: str = ""  # booked, taken, refused, rate-limited, spam, HTTP 5xx, no answer
    detail: str = ""
    answers: list = field(default_factory=list)
    location: str = ""
    retry_after: str = ""


def slot_page(practitioner, day):
    return f"{BOOK}?service={SERVICE}&practitioner={practitioner}&day={day}"


def fetch_form(port, page, *, email_address, slot=None, slot_index=0, retries=0):
    """GET the form as a new visitor (own cookies, own token) and fill it in."""
    for attempt in range(retries + 1):
        try:
            response = request(port, "GET", page)
        except (OSError, http.client.HTTPException):
            response = None
        if response is not None and response.status == 200:
            form = booking_post.booking_form(response)
            slots = booking_post.offered_slots(form)
            chosen = slot or (slots[slot_index] if slot_index < len(slots) else None)
            if chosen is None:
                return None
            data = booking_post.fill(form, email=email_address, slot=chosen)
            return Visit(email_address, port, response.cookies(), data, time.monotonic())
        if attempt < retries:
            time.sleep(1)
    return None


def wait_fill_time(visits):
    ready = max(v.fetched_at for v in visits) + booking_post.MINIMUM_FILL_SECONDS + 0.3
    time.sleep(max(0.0, ready - time.monotonic()))


def send(visit, *, resend=0):
    """POST the form; with `resend`, send it again after no answer or a 503, as people do."""
    for attempt in range(resend + 1):
        try:
            response = request(visit.port, "POST", BOOK, body=visit.data, cookies=visit.cookies)
        except (OSError, http.client.HTTPException) as error:
            visit.answers.append(type(error).__name__)
            if attempt < resend:
                time.sleep(1)
            continue
        visit.answers.append(response.status)
        if response.status in (301, 302, 303):
            visit.location = response.header("Location") or ""
            visit.outcome = "booked" if "/book/request/" in visit.location else "spam"
            return visit
        if response.status == 503 and attempt < resend:
            time.sleep(1)
            continue
        if response.status == 200:
            visit.outcome = "taken" if TAKEN in response.text else "refused"
            visit.detail = booking_post.first_error(response.text)
        elif response.status == 429:
            visit.outcome = "rate-limited"
            visit.retry_after = response.header("Retry-After") or ""
        else:
            visit.outcome = f"HTTP {response.status}"
        return visit
    visit.outcome = visit.outcome or "no answer"
    return visit


def in_threads(function, items):
    results = [None] * len(items)

    def run(index, item):
        results[index] = function(item)

    threads = [threading.Thread(target=run, args=(n, item)) for n, item in enumerate(items)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def requested_id(location):
    """The appointment id in a patient's link (its signed payload is plain base64 JSON)."""
    token = location.rstrip("/").rsplit("/", 1)[-1].split(":", 1)[0]
    payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return int(payload["id"])


# ---------------------------------------------------------------------------- the database


class Database:
    def __init__(self, url):
        self.url = url

    def query(self, sql, *params):
        import psycopg

        with psycopg.connect(self.url, connect_timeout=5) as connection:
            return connection.execute(sql, params).fetchall()

    def execute(self, sql, *params):
        import psycopg

        with psycopg.connect(self.url, connect_timeout=5) as connection:
            connection.execute(sql, params)

    def booked_by_email(self, pattern):
        rows = self.query("SELECT email, id FROM booking_appointment WHERE email LIKE %s", pattern)
        found = {}
        for address, pk in rows:
            found.setdefault(address, []).append(pk)
        return found

    def overlaps(self):
        """Pairs of active appointments of one practitioner that overlap: must be none."""
        return self.query(
            """
            SELECT count(*) FROM booking_appointment a JOIN booking_appointment b
              ON a.practitioner_id = b.practitioner_id AND a.id < b.id
             AND a.start < b."end" AND b.start < a."end"
             WHERE a.status IN ('requested', 'confirmed')
               AND b.status IN ('requested', 'confirmed')
            """
        )[0][0]

    def partial(self, pattern):
        """Run appointments without their first history step or their two emails."""
        return self.query(
            """
            SELECT a.reference FROM booking_appointment a
             WHERE a.email LIKE %s AND (
                   a."end" <= a.start
                OR NOT EXISTS (SELECT 1 FROM booking_statuschange c
                                WHERE c.appointment_id = a.id AND c.to_status = 'requested')
                OR (SELECT count(*) FROM booking_outgoingemail e
                     WHERE e.appointment_id = a.id) <> 2)
            """,
            pattern,
        )

    def emails(self, pattern):
        return self.query(
            """
            SELECT e.subject, e.status FROM booking_outgoingemail e
              JOIN booking_appointment a ON a.id = e.appointment_id WHERE a.email LIKE %s
            """,
            pattern,
        )


# ---------------------------------------------------------------------------- PostgreSQL


def postgres_cluster(port):
    """(version, name) of the local cluster listening on `port`, from pg_lsclusters."""
    if not shutil.which("pg_lsclusters") or not shutil.which("pg_ctlcluster"):
        return None
    result = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True)
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == str(port):
            return parts[0], parts[1]
    return None


def pg_ctlcluster(cluster, action):
    version, name = cluster
    command = ["pg_ctlcluster", version, name, action]
    if action == "stop":
        command += ["-m", "fast"]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


# ---------------------------------------------------------------------------- the checks


class Report:
    def __init__(self):
        self.checks = []  # (section, what, passed, detail)
        self.numbers = {}

    def check(self, section, what, passed, detail=""):
        self.checks.append((section, what, bool(passed), detail))
        mark = "PASS" if passed else "FAIL"
        print(f"   [{mark}] {what}" + (f": {detail}" if detail else ""), flush=True)

    @property
    def passed(self):
        return all(passed for _, _, passed, _ in self.checks)


class Harness:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.report = Report()
        self.taken_ports = set()
        self.servers = []
        self.run_id = secrets.token_hex(3)
        base = os.environ.get("DATABASE_URL", "")
        if not base.startswith(("postgres://", "postgresql://")):
            base = "postgres://postgres@127.0.0.1:5432/postgres"
        self.admin_url = postgres_admin_url(base)
        self.database_url = postgres_url(base, args.database)
        self.db = Database(self.database_url)
        self.redis_url = args.redis_url
        self.smtp = MailSink(free_port(SMTP_PORTS, self.taken_ports))
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "CLINIC_", "GUNICORN_"))
            and key not in {"DATABASE_URL", "REDIS_URL", "EMAIL_URL"}
        }
        self.env.update(
            DJANGO_DEBUG="false",
            DJANGO_SECRET_KEY="faults-" + secrets.token_urlsafe(48),
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            CLINIC_SITE_URL="https://clinic.faults.invalid",
            CLINIC_NOTIFY_EMAIL="front-desk@clinic.faults.invalid",
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            EMAIL_URL=f"smtp://127.0.0.1:{self.smtp.port}",
            GUNICORN_WORKERS=str(WORKERS),
            PYTHONDONTWRITEBYTECODE="1",
        )

    # -- setup

    def setup(self):
        RESULTS.mkdir(parents=True, exist_ok=True)
        print(f"== building {self.args.database} (migrate, seed_demo, collectstatic)", flush=True)
        try:
            recreate_postgres_database(self.admin_url, self.args.database)
        except Exception as error:
            raise HarnessError(f"PostgreSQL at {self.admin_url}: {error}") from error
        self.flush_redis()
        run_checked([PYTHON, "manage.py", "migrate", "--noinput"], self.env, "migrate")
        run_checked([PYTHON, "manage.py", "seed_demo", "--no-admin"], self.env, "seed_demo")
        run_checked([PYTHON, "-m", "bench.static"], self.env, "collectstatic")
        try:
            self.smtp.start()
        except ImportError as error:
            raise HarnessError(
                "aiosmtpd is missing: pip install -r requirements-dev.txt"
            ) from error

    def flush_redis(self):
        import redis

        try:
            redis.Redis.from_url(self.redis_url, socket_timeout=5).flushdb()
        except redis.RedisError as error:
            raise HarnessError(f"Redis at {self.redis_url}: {error}") from error

    def start_servers(self, count, **env):
        servers = []
        for n in range(count):
            port = free_port(PORTS, self.taken_ports)
            log = RESULTS / f"faults-gunicorn-{port}.log"
            server = Server(
                f"gunicorn {n + 1} (:{port})", port, server_environment(self.env, **env), log
            )
            server.start()
            servers.append(server)
            self.servers.append(server)
        for server in servers:
            server.wait_ready()
            deadline = time.monotonic() + 30
            while len(server.workers()) < WORKERS and time.monotonic() < deadline:
                time.sleep(0.1)
        return servers

    def stop_servers(self, servers):
        for server in servers:
            server.stop()
            self.taken_ports.discard(server.port)

    def page_choices(self, port):
        first = request(port, "GET", f"{BOOK}?service={SERVICE}")
        if first.status != 200:
            raise HarnessError(f"GET /book/ answered {first.status}")
        links = booking_post.choices_on_page(first.text)
        if not links["practitioner"] or not links["day"]:
            raise HarnessError("the booking page offers no practitioner or day")
        return links["practitioner"], links["day"]

    def server_errors(self, servers):
        found = Counter()
        for server in servers:
            for key, value in count_server_errors(server).items():
                found[key] += value
        return found

    # -- 1. one time, many patients

    def race(self, label, servers, practitioner, day):
        """RACERS patients post the same time at once, spread over `servers`."""
        page = slot_page(practitioner, day)
        first = fetch_form(servers[0].port, page, email_address="probe@example.com")
        if first is None:
            raise HarnessError(f"no open time on {page}")
        slot = first.data["slot"]
        visits = in_threads(
            lambda n: fetch_form(
                servers[n % len(servers)].port,
                page,
                email_address=f"faults-{self.run_id}-{label}-{n}@example.com",
                slot=slot,
            ),
            list(range(RACERS)),
        )
        if any(v is None for v in visits):
            raise HarnessError(f"{label}: some forms could not be fetched")
        wait_fill_time(visits)
        barrier = threading.Barrier(RACERS)

        def go(visit):
            barrier.wait()
            return send(visit)

        started = time.monotonic()
        in_threads(go, visits)
        seconds = time.monotonic() - started
        outcomes = Counter(v.outcome for v in visits)
        stored = self.db.booked_by_email(f"faults-{self.run_id}-{label}-%")
        fives = sum(1 for v in visits for a in v.answers if isinstance(a, int) and a >= 500)
        return outcomes, stored, fives, seconds, slot

    def one_slot(self):
        print(f"== 1. {RACERS} patients post one time at once", flush=True)
        fast = {"CLINIC_BOOKING_RATE": "100000/h", "CLINIC_BOOKING_EMAIL_RATE": "100000/d"}
        for count in (1, 2):
            servers = self.start_servers(count, **fast)
            try:
                practitioners, days = self.page_choices(servers[0].port)
                label = f"race{count}"
                outcomes, stored, fives, seconds, slot = self.race(
                    label, servers, practitioners[0], days[count - 1]
                )
                errors = self.server_errors(servers)
            finally:
                self.stop_servers(servers)
            where = "one gunicorn" if count == 1 else "two gunicorns sharing PostgreSQL and Redis"
            rows = sum(len(ids) for ids in stored.values())
            self.report.numbers[label] = {
                "servers": count,
                "outcomes": dict(outcomes),
                "stored": rows,
                "5xx": fives,
                "seconds": round(seconds, 2),
                "slot": slot,
                "log": dict(errors),
            }
            section = f"{RACERS} posts for one time, {where}"
            self.report.check(
                section, f"{where}: exactly one appointment stored", rows == 1, f"{rows}"
            )
            self.report.check(
                section,
                f"{where}: one patient told it is booked, {RACERS - 1} told it was taken",
                outcomes == Counter({"booked": 1, "taken": RACERS - 1}),
                ", ".join(f"{n} {k}" for k, n in outcomes.most_common()),
            )
            self.report.check(
                section,
                f"{where}: no 5xx answer, no traceback",
                fives == 0 and not errors["tracebacks"],
                f"{fives} 5xx, {errors['tracebacks']} tracebacks",
            )

    def rate_limit(self):
        print("== 1c. the per-address rate limit across two gunicorns (default 5/h)", flush=True)
        self.flush_redis()
        servers = self.start_servers(
            2, CLINIC_BOOKING_RATE=DEFAULT_RATE, CLINIC_BOOKING_EMAIL_RATE="3/d"
        )
        try:
            practitioners, days = self.page_choices(servers[0].port)
            page = slot_page(practitioners[-1], days[2])
            visits = [
                fetch_form(
                    servers[n % 2].port,
                    page,
                    email_address=f"faults-{self.run_id}-limit-{n}@example.com",
                    slot_index=n,
                )
                for n in range(7)
            ]
            if any(v is None for v in visits):
                raise HarnessError("rate limit: some forms could not be fetched")
            wait_fill_time(visits)
            # The limit counts in fixed hours: all seven in the same one.
            into_hour = time.time() % 3600
            if into_hour > 3590:
                time.sleep(3600 - into_hour + 0.5)
            for visit in visits:
                send(visit)
        finally:
            self.stop_servers(servers)
        outcomes = [v.outcome for v in visits]
        self.report.numbers["rate_limit"] = {
            "answers": [f"{v.outcome} (:{v.port})" for v in visits],
            "retry_after": visits[-1].retry_after,
        }
        expected = ["booked"] * 5 + ["rate-limited"] * 2
        self.report.check(
            "Rate limit",
            "the 6th and 7th requests in an hour from one address are refused (429), on either "
            "server",
            outcomes == expected and all(v.retry_after for v in visits[5:]),
            ", ".join(f"{o}@:{v.port}" for o, v in zip(outcomes, visits, strict=True)),
        )
        stored = self.db.booked_by_email(f"faults-{self.run_id}-limit-%")
        self.report.check(
            "Rate limit",
            "refused requests stored nothing",
            len(stored) == 5,
            f"{len(stored)} stored",
        )

    # -- 2. faults under a steady stream

    def stream(self):
        restart = not self.quick
        cluster = None
        if restart:
            port = urlsplit(self.database_url).port or 5432
            cluster = postgres_cluster(port)
            if cluster is None:
                restart = False
                self.report.numbers["restart_skipped"] = (
                    "no local cluster on that port (pg_lsclusters/pg_ctlcluster missing)"
                )
            elif os.geteuid() != 0:
                restart = False
                self.report.numbers["restart_skipped"] = "pg_ctlcluster needs root"
        print(
            "== 2. faults during a steady stream of bookings"
            + ("" if restart else " (PostgreSQL is not restarted)"),
            flush=True,
        )
        self.flush_redis()
        (server,) = self.start_servers(
            1, CLINIC_BOOKING_RATE="100000/h", CLINIC_BOOKING_EMAIL_RATE="100000/d"
        )
        practitioners, days = self.page_choices(server.port)
        lanes = [(p, d) for d in days[3:] for p in practitioners][: self.args.patients]
        visits, lock, stop = [], threading.Lock(), threading.Event()
        timeline = []
        began = time.monotonic()

        def mark(what):
            timeline.append((round(time.monotonic() - began, 1), what))
            print(f"   {timeline[-1][0]:5.1f} s  {what}", flush=True)

        def patient(lane, practitioner, day):
            n = 0
            while not stop.is_set():
                address = f"faults-{self.run_id}-stream-{lane}-{n}@example.com"
                n += 1
                visit = fetch_form(
                    server.port, slot_page(practitioner, day), email_address=address, retries=15
                )
                if visit is None:
                    with lock:
                        visits.append(Visit(address, server.port, {}, {}, 0, outcome="no form"))
                    time.sleep(1)
                    continue
                wait_fill_time([visit])
                send(visit, resend=15)
                with lock:
                    visits.append(visit)

        # Seconds between the faults: short in the quick mode, which restarts nothing.
        if self.quick:
            pause = {"before kill": 3, "before SMTP stops": 2, "SMTP down": 5, "after": 4}
        else:
            pause = {"before kill": 6, "before SMTP stops": 3, "SMTP down": 4, "after": 6}
        threads = [
            threading.Thread(target=patient, args=(n, p, d), daemon=True)
            for n, (p, d) in enumerate(lanes)
        ]
        probe = OutageProbe(server.port)
        outage = {}
        try:
            mark(f"{len(threads)} patients start booking")
            for thread in threads:
                thread.start()
            time.sleep(pause["before kill"])
            victim = server.workers()[0]
            os.kill(victim, signal.SIGKILL)
            mark(f"worker {victim} killed (SIGKILL)")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                workers = server.workers()
                if victim not in workers and len(workers) >= WORKERS:
                    break
                time.sleep(0.1)
            mark(f"gunicorn has {len(server.workers())} workers again")
            time.sleep(pause["before SMTP stops"])
            self.smtp.stop()
            mark("SMTP server stopped")
            time.sleep(pause["SMTP down"])
            if restart:
                outage = self.postgres_outage(cluster, probe, mark)
                time.sleep(pause["SMTP down"])
            self.smtp.start()
            mark("SMTP server back")
            time.sleep(pause["after"])
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
            mark("patients stopped")
            probe.stop()
            errors = self.server_errors([server])
            self.stop_servers([server])
        self.reconcile(visits, outage, restart, timeline, errors)

    def postgres_outage(self, cluster, probe, mark):
        probe.start()
        time.sleep(1)
        stopped_at = time.monotonic()
        mark(f"PostgreSQL {cluster[0]}/{cluster[1]} asked to stop (fast shutdown)")
        try:
            pg_ctlcluster(cluster, "stop")
            mark("PostgreSQL stopped")
            probe.outage_began(stopped_at)
            time.sleep(OUTAGE_SECONDS)
        finally:
            # Whatever happened (Ctrl-C too), never leave a shared server down.
            pg_ctlcluster(cluster, "start")
        back = time.monotonic()
        probe.outage_ended(back)
        mark(f"PostgreSQL started again (down {back - stopped_at:.1f} s)")
        recovered = probe.wait_recovered(back, timeout=60)
        if recovered is not None:
            mark(f"the site answers /book/ again, {recovered:.2f} s after PostgreSQL returned")
        time.sleep(1)
        probe.stop()
        during = probe.during()
        return {
            "down_seconds": round(back - stopped_at, 2),
            "recovered_after": None if recovered is None else round(recovered, 2),
            "during": Counter(answer for path, answer, _ in during if path == BOOK),
            "healthz_during": Counter(answer for path, answer, _ in during if path != BOOK),
            "friendly_503": sum(1 for path, _, friendly in during if path == BOOK and friendly),
        }

    def reconcile(self, visits, outage, restart, timeline, errors):
        print("== reconciling what patients were told with the database and the mail", flush=True)
        pattern = f"faults-{self.run_id}-stream-%"
        stored = self.db.booked_by_email(pattern)
        outcomes = Counter(v.outcome for v in visits)
        booked = [v for v in visits if v.outcome == "booked"]
        seen_twice = [v.email for v in booked if len(stored.get(v.email, [])) != 1]
        wrong_id = [v.email for v in booked if stored.get(v.email) != [requested_id(v.location)]]
        told = {v.email for v in booked}
        untold = [address for address in stored if address not in told]
        resent = sum(1 for v in visits if len(v.answers) > 1)
        fives = Counter(a for v in visits for a in v.answers if isinstance(a, int) and a >= 500)
        section = "Faults during a steady stream"
        self.report.check(
            section,
            "every success a patient saw is exactly one stored appointment, the one linked",
            booked and not seen_twice and not wrong_id,
            f"{len(booked)} successes; {len(seen_twice)} not stored once; {len(wrong_id)} other id",
        )
        self.report.check(
            section,
            "no appointment stored that its patient was not told about",
            not untold,
            f"{len(untold)}",
        )
        partial = self.db.partial(pattern)
        self.report.check(
            section,
            "no partial rows (history and both emails with each)",
            not partial,
            f"{len(partial)}",
        )
        overlaps = self.db.overlaps()
        self.report.check(
            section,
            "no two active appointments of a practitioner overlap",
            overlaps == 0,
            f"{overlaps}",
        )
        others = {k: n for k, n in outcomes.items() if k != "booked"}
        self.report.check(
            section,
            "every patient got an answer: booked (after resending if need be), none 500",
            not others and 500 not in fives,
            f"{dict(outcomes)}; answers 5xx: {dict(fives) or 'none'}",
        )

        # Emails: the retries wait 2, 4, 8 … minutes; make them due now, as if that passed.
        self.db.execute(
            "UPDATE booking_outgoingemail SET next_attempt_at = now() WHERE status = 'pending'"
        )
        runs = 0
        for _ in range(5):
            run_checked(
                [PYTHON, "manage.py", "send_pending_emails"], self.env, "send_pending_emails"
            )
            runs += 1
            pending = [row for row in self.db.emails(pattern) if row[1] == "pending"]
            if not pending:
                break
        rows = self.db.emails(pattern)
        by_status = Counter(status for _, status in rows)
        received = self.smtp.received()
        counts = Counter(received[subject] for subject, _ in rows)
        interrupted = [s for s, status in rows if status == "sending"]
        twice = [s for s, _ in rows if received[s] > 1]
        never = [s for s, status in rows if received[s] == 0 and status != "sending"]
        self.report.check(
            "Emails",
            "after the SMTP server returns, send_pending_emails delivers every email exactly once",
            rows and not twice and not never and by_status.get("pending", 0) == 0,
            f"{len(rows)} emails for {len(stored)} appointments; outbox {dict(by_status)}; "
            f"received once {counts.get(1, 0)}, twice or more {len(twice)}, never {len(never)}; "
            f"{runs} run(s)",
        )
        if interrupted:
            print(
                f"   note: {len(interrupted)} email(s) were being sent when a worker or the "
                "database went away: left for staff (Needs attention), by design",
                flush=True,
            )
        numbers = {
            "patients": self.args.patients,
            "visits": len(visits),
            "outcomes": dict(outcomes),
            "resent": resent,
            "stored": sum(len(ids) for ids in stored.values()),
            "answers_5xx": dict(fives),
            "emails": dict(by_status),
            "received_once": counts.get(1, 0),
            "received_twice": len(twice),
            "never_received": len(never),
            "interrupted": len(interrupted),
            "timeline": timeline,
            "log": dict(errors),
        }
        if restart:
            numbers["outage"] = {
                key: dict(v) if isinstance(v, Counter) else v for key, v in outage.items()
            }
            self.outage_checks(outage)
        self.report.numbers["stream"] = numbers

    def outage_checks(self, outage):
        statuses = outage.get("during", Counter())
        friendly = outage.get("friendly_503", 0)
        section = "Database outage"
        self.report.check(
            section,
            "while PostgreSQL is down, pages answer 503 with the friendly page, never 500",
            friendly > 0 and not any(s >= 500 and s != 503 for s in statuses if isinstance(s, int)),
            f"answers during the outage: {dict(statuses)}; friendly 503 pages {friendly}",
        )
        recovered = outage.get("recovered_after")
        self.report.check(
            section,
            f"the site answers again within {RECOVERY_BAR_SECONDS:.0f} s of PostgreSQL "
            "returning, without restarting gunicorn",
            recovered is not None and recovered <= RECOVERY_BAR_SECONDS,
            "never" if recovered is None else f"{recovered:.2f} s",
        )

    # -- the whole run

    def run(self):
        try:
            self.setup()
            self.one_slot()
            self.rate_limit()
            self.stream()
        finally:
            for server in self.servers:
                server.stop()
            self.smtp.stop()


class OutageProbe:
    """GETs /book/ and /healthz every 0.2 s; what they answered while PostgreSQL was down."""

    def __init__(self, port):
        self.port = port
        self.answers = []  # (time, path, status or error, friendly)
        self.stopping = threading.Event()
        self.thread = None
        self.began = self.ended = None
        self.lock = threading.Lock()

    def start(self):
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.is_set():
            for path in (BOOK, "/healthz"):
                try:
                    response = request(self.port, "GET", path, timeout=10)
                    answer = response.status
                    friendly = response.status == 503 and FRIENDLY_503 in response.text.lower()
                except (OSError, http.client.HTTPException) as error:
                    answer, friendly = type(error).__name__, False
                with self.lock:
                    self.answers.append((time.monotonic(), path, answer, friendly))
            self.stopping.wait(0.2)

    def outage_began(self, when):
        self.began = when

    def outage_ended(self, when):
        self.ended = when

    def wait_recovered(self, since, timeout):
        """Seconds from `since` until /book/ answers 200 again."""
        deadline = since + timeout
        while time.monotonic() < deadline:
            try:
                if request(self.port, "GET", BOOK, timeout=10).status == 200:
                    return time.monotonic() - since
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        return None

    def stop(self):
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(15)

    def during(self):
        with self.lock:
            return [
                (path, answer, friendly)
                for when, path, answer, friendly in self.answers
                if self.began is not None and self.began <= when <= (self.ended or when)
            ]


# ---------------------------------------------------------------------------- the report


def versions():
    from importlib.metadata import version

    found = {"Python": sys.version.split()[0]}
    for package in ("Django", "gunicorn", "psycopg", "redis", "aiosmtpd"):
        with contextlib.suppress(Exception):
            found[package] = version(package)
    return found


def server_versions(harness):
    found = {}
    with contextlib.suppress(Exception):
        found["PostgreSQL"] = harness.db.query("SHOW server_version")[0][0]
    with contextlib.suppress(Exception):
        import redis

        found["Redis"] = redis.Redis.from_url(harness.redis_url).info()["redis_version"]
    with contextlib.suppress(Exception):
        git = ["git", "-C", str(ROOT)]
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True)
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
        ).stdout.strip()
        found["commit"] = commit.stdout.decode().strip() + (
            " with uncommitted changes" if dirty else ""
        )
    return found


def render(results):
    info, report = results["machine"], results["report"]
    lines = [
        BEGIN,
        "",
        f"Latest run: {results['date']}, `{results['command']}`, "
        f"{results['elapsed_s']:.0f} s, **{'all checks passed' if report.passed else 'FAILED'}**.",
        "",
        f"Machine: {info['cpu']}, {info['nproc']} CPUs, {info['memory_gb']} GB, {info['os']} "
        f"(kernel {info['kernel']}). "
        + ", ".join(f"{name} {value}" for name, value in results["versions"].items())
        + f". gunicorn: {WORKERS} sync workers per instance, gunicorn.conf.py, debug off.",
        "",
        "| | check | result |",
        "| --- | --- | --- |",
    ]
    for _, what, passed, detail in report.checks:
        lines.append(f"| {'pass' if passed else '**FAIL**'} | {what} | {detail} |")
    numbers = report.numbers
    stream = numbers.get("stream", {})
    lines += ["", "Details:", ""]
    for key in ("race1", "race2"):
        race = numbers.get(key)
        if race:
            lines.append(
                f"- {RACERS} posts for one time through {race['servers']} gunicorn(s): "
                f"{race['outcomes']}, {race['stored']} stored, {race['5xx']} 5xx, "
                f"all answered in {race['seconds']} s."
            )
    if "rate_limit" in numbers:
        limit = numbers["rate_limit"]
        lines.append(
            f"- Rate limit {DEFAULT_RATE} across two gunicorns: {', '.join(limit['answers'])}; "
            f"Retry-After {limit['retry_after']} s."
        )
    if stream:
        lines.append(
            f"- Steady stream: {stream['patients']} patients, {stream['visits']} requests, "
            f"{stream['outcomes']}; {stream['resent']} sent again after no answer or a 503; "
            f"{stream['stored']} stored; outbox {stream['emails']}, "
            f"{stream['interrupted']} interrupted while being sent."
        )
        outage = stream.get("outage")
        if outage:
            lines.append(
                f"- PostgreSQL down {outage['down_seconds']} s: /book/ answered "
                f"{outage['during']} ({outage['friendly_503']} friendly 503 pages), /healthz "
                f"{outage['healthz_during']}; /book/ answered 200 again "
                f"{outage['recovered_after']} s after PostgreSQL was back."
            )
        lines += ["", "Timeline of the stream (seconds from its start):", ""]
        lines += [f"- {when} s: {what}" for when, what in stream["timeline"]]
    if numbers.get("restart_skipped"):
        lines.append(f"- PostgreSQL was not restarted: {numbers['restart_skipped']}.")
    lines += ["", END, ""]
    return "\n".join(lines)


def write(path, results):
    generated = render(results)
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        text = text.split(BEGIN, 1)[0] + generated.rstrip("\n") + text.split(END, 1)[1]
    else:
        text = "# Reliability\n\n" + generated
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="do not restart PostgreSQL; a shorter stream (CI)"
    )
    parser.add_argument(
        "--database",
        default=os.environ.get("FAULTS_DATABASE", "clinic_faults"),
        help="the PostgreSQL database to (re)create (FAULTS_DATABASE; default clinic_faults)",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("FAULTS_REDIS_URL", "redis://127.0.0.1:6379/14"),
        help="a Redis database of its own: it is flushed (FAULTS_REDIS_URL)",
    )
    parser.add_argument("--patients", type=int, default=8, help="patients in the stream (8)")
    parser.add_argument("--out", help="where to write the Markdown report")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else (RESULTS / "RELIABILITY-quick.md" if args.quick else DOC)
    began = time.monotonic()
    harness = Harness(args)
    try:
        harness.run()
    except (HarnessError, subprocess.CalledProcessError) as error:
        print(f"\nThe fault harness broke: {error}", file=sys.stderr)
        return 2
    report = harness.report
    results = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "make faults" + (" FAULTS_QUICK=1" if args.quick else ""),
        "elapsed_s": time.monotonic() - began,
        "machine": machine(),
        "versions": {**versions(), **server_versions(harness)},
        "report": report,
    }
    (RESULTS / f"faults-{'quick' if args.quick else 'full'}.json").write_text(
        json.dumps(
            {**results, "report": {"checks": report.checks, "numbers": report.numbers}},
            indent=2,
            default=str,
        )
    )
    write(out, results)
    failed = [what for _, what, passed, _ in report.checks if not passed]
    print()
    print(
        f"== {len(report.checks) - len(failed)} of {len(report.checks)} checks passed"
        f" in {results['elapsed_s']:.0f} s; report written to {out}"
    )
    for what in failed:
        print(f"   FAILED: {what}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
