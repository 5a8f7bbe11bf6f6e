"""The benchmark: every page of the site as a fraction of Django's own floor.

    python -m bench.run            # the full run (about 10 minutes with PostgreSQL)
    python -m bench.run --short    # a few seconds a page, for CI (BENCH_SHORT=1 too)

It builds the databases (SQLite always; PostgreSQL too when DATABASE_URL points at a
PostgreSQL server, in databases of its own named clinic_bench and clinic_bench_demo),
each twice: the demo data alone and the demo data plus two years of volume. It starts
one gunicorn per database and data set, as deployed (gunicorn.conf.py, 2 sync workers,
debug off, WhiteNoise, collectstatic done), plus one serving the floor (the same settings
with bench.floor_urls), then loads each page with wrk, interleaved with the floor, and
writes docs/PERFORMANCE.md (short runs: bench/results/PERFORMANCE-short.md).

It exits non-zero only when the harness itself breaks: a page that answers 404 or 500,
or misses a bar, is reported as such.
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench import booking_post, report
from bench.client import load_get, request

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WRK_SCRIPT = ROOT / "bench" / "wrk_report.lua"
PYTHON = sys.executable
PORTS = range(8200, 8290)
SMTP_PORT_RANGE = range(8290, 8300)
ADMIN_LIST = "/admin/booking/appointment/"
# A booking run is over once its workers have used no CPU for this long: their email
# threads start sending IDLE_GAP (50 ms) after the last request and then keep busy.
POST_STILL_SECONDS = 1.0


class HarnessError(Exception):
    """The benchmark itself cannot go on (as opposed to a page being slow or broken)."""


@dataclass
class Mode:
    name: str
    articles: int
    appointments: int
    reps: int
    duration: int  # seconds a measurement (wrk takes whole seconds)
    warmup: int
    concurrency: int = 16
    # Staff use the admin a few at a time: its latency bar is for a request on its own.
    admin_concurrency: int = 2
    floor_every: int = 3  # pages between two floor measurements


DEMO_APPOINTMENTS = 120

FULL = Mode("full", articles=1000, appointments=100_000, reps=3, duration=4, warmup=1)
# Short: only that the harness still works end to end; its figures are not for reading.
SHORT = Mode("short", articles=100, appointments=5_000, reps=1, duration=1, warmup=0)


@dataclass
class Page:
    key: str
    label: str
    path: str | None
    method: str = "GET"
    admin: bool = False


@dataclass
class Variant:
    """One database with one data set, served by its own gunicorn."""

    database: str  # "SQLite" or "PostgreSQL"
    dataset: str  # "demo" or "volume"
    url: str
    server: "Server" = None
    targets: dict = field(default_factory=dict)
    admin_cookies: dict | None = None
    admin_problem: str | None = None

    @property
    def name(self):
        return f"{self.database} {self.dataset}"


# ---------------------------------------------------------------------------- processes


def free_port(candidates, taken):
    for port in candidates:
        if port in taken:
            continue
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise HarnessError(f"no free port in {candidates.start}-{candidates.stop - 1}")


def server_environment(base, **extra):
    env = dict(base)
    env.update({key: str(value) for key, value in extra.items()})
    return env


class Server:
    """One gunicorn master (2 sync workers) with its log file."""

    def __init__(self, name, port, env, log_path):
        self.name, self.port, self.env, self.log_path = name, port, env, log_path
        self.process = None

    def start(self):
        self.log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            # gunicorn's control socket has one default path: several masters would share it.
            [PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--no-control-socket"]
            + ["--bind", f"127.0.0.1:{self.port}", "clinic.wsgi"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HarnessError(f"gunicorn for {self.name} exited:\n{self.log_tail()}")
            try:
                request(self.port, "GET", "/robots.txt", timeout=5)
                if len(self.workers()) >= 2:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise HarnessError(f"gunicorn for {self.name} did not answer in {timeout}s")

    def workers(self):
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
            return [int(pid) for pid in children.read_text().split()]
        except (OSError, ValueError):
            return []

    def drain(self, timeout=120, *, still_for=0.05):
        """Wait until the requests a load run left queued are served.

        When wrk stops, its last requests are still in gunicorn's queue, and sync workers
        serve them even though nobody reads the answers: without this, a slow page would
        be billed to whatever is measured next on this server. Probes queue behind them;
        then the workers' CPU time must stand still for `still_for` seconds (longer after
        bookings: their emails wait for the worker's first pause, booking/emails.py).
        """
        deadline = time.monotonic() + timeout
        probes = [
            threading.Thread(target=self._probe, args=(timeout,), daemon=True)
            for _ in range(len(self.workers()) or 2)
        ]
        for probe in probes:
            probe.start()
        for probe in probes:
            probe.join(max(0.0, deadline - time.monotonic()))
        previous, still_since = None, time.monotonic()
        while time.monotonic() < deadline:
            ticks = sum(cpu_ticks(pid) for pid in self.workers())
            if ticks != previous:
                previous, still_since = ticks, time.monotonic()
            elif time.monotonic() - still_since >= still_for:
                return
            time.sleep(0.05)

    def _probe(self, timeout):
        with contextlib.suppress(OSError):
            request(self.port, "GET", "/robots.txt", timeout=timeout)

    def log_tail(self, lines=30):
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self):
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        with contextlib.suppress(AttributeError):
            self.log.close()


def cpu_ticks(pid):
    """User and system CPU time a process has used, in clock ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return 0


def postgres_processes():
    """The PostgreSQL server's processes on this machine (its backends among them)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in {"postgres", "postmaster"}:
                    found.append(int(entry.name))
    return found


class CpuMeter:
    """CPU time the processes of a booking POST run use, by role, per stored booking.

    Read from /proc before and after the run: the server's workers, the database server
    (PostgreSQL; SQLite works inside the workers), the SMTP server the emails go to, and
    this process, which is the load client. All share the machine's cores, so together
    they bound how many bookings a second it can take.
    """

    def __init__(self, server, smtp, database):
        self.roles = {"gunicorn workers": server.workers}
        if database == "PostgreSQL":
            self.roles["PostgreSQL server"] = postgres_processes
        if smtp is not None:
            self.roles["SMTP server"] = lambda: [smtp.pid]
        self.roles["load client"] = lambda: [os.getpid()]
        self.before = self._read()

    def _read(self):
        return {role: {pid: cpu_ticks(pid) for pid in pids()} for role, pids in self.roles.items()}

    def per_request_ms(self, count):
        """{role: CPU ms per request} since the meter was made; a process gone meanwhile
        (a recycled worker) is missing from the figures."""
        if not count:
            return {}
        after, tick_ms = self._read(), 1000 / os.sysconf("SC_CLK_TCK")
        used = {}
        for role, ticks in after.items():
            spent = sum(t - self.before[role].get(pid, 0) for pid, t in ticks.items())
            used[role] = spent * tick_ms / count
        return used


def worker_memory(server):
    """Each live worker's RSS, high-water RSS and PSS (its fair share of shared pages), MB."""
    found = []
    for pid in server.workers():
        pss = None
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) / 1024
        rss, hwm = proc_status_kb(pid, "VmRSS"), proc_status_kb(pid, "VmHWM")
        found.append(
            {"rss": rss and rss / 1024, "hwm": hwm and hwm / 1024, "pss": pss},
        )
    return found


def proc_status_kb(pid, key):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class MemorySampler(threading.Thread):
    """Samples the workers' RSS: the peak during each measurement, and each worker's VmHWM.

    Workers are recycled after max_requests (gunicorn.conf.py), so a worker's own high
    water mark is read while it lives, every 0.2 s.
    """

    def __init__(self, servers):
        super().__init__(daemon=True)
        self.servers = servers
        self.windows = {}
        self.high_water = {server.name: {} for server in servers}
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def open_window(self, server):
        with self.lock:
            self.windows[server.name] = 0

    def close_window(self, server):
        self.sample()
        with self.lock:
            return self.windows.pop(server.name, 0) / 1024

    def sample(self):
        for server in self.servers:
            for pid in server.workers():
                rss = proc_status_kb(pid, "VmRSS")
                hwm = proc_status_kb(pid, "VmHWM")
                with self.lock:
                    if rss and server.name in self.windows:
                        self.windows[server.name] = max(self.windows[server.name], rss)
                    if hwm:
                        seen = self.high_water[server.name]
                        seen[pid] = max(seen.get(pid, 0), hwm)

    def peak_mb(self, server):
        seen = self.high_water.get(server.name) or {}
        return max(seen.values()) / 1024 if seen else None

    def run(self):
        while not self.stopping.wait(0.2):
            self.sample()


# ---------------------------------------------------------------------------- setup


def ensure_wrk(notes):
    if shutil.which("wrk"):
        return True
    print("== wrk is missing: installing the Debian package", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"]
    for command in ([*sudo, "apt-get", "update", "-qq"], install):
        with contextlib.suppress(OSError):
            subprocess.run(command, env=env, capture_output=True, timeout=300, check=False)
        if shutil.which("wrk"):
            return True
    notes.append(
        "wrk could not be installed (apt-get failed): GET pages were loaded with the "
        "harness's own Python client instead, which costs more CPU per request."
    )
    return False


def postgres_admin_url(database_url):
    parts = urlsplit(database_url)
    return urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))


def postgres_url(database_url, name):
    parts = urlsplit(database_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def recreate_postgres_database(admin_url, name):
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def postgres_version(admin_url):
    import psycopg

    with psycopg.connect(admin_url) as connection:
        return connection.execute("SHOW server_version").fetchone()[0]


def build_variants(short):
    variants = []
    for dataset in ("demo", "volume"):
        path = Path("/tmp") / f"clinic_bench_{dataset}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{path}{suffix}").unlink()
        variants.append(Variant("SQLite", dataset, f"sqlite:///{path}"))
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith(("postgres://", "postgresql://")):
        admin_url = postgres_admin_url(database_url)
        for dataset in ("demo", "volume"):
            name = "clinic_bench" if dataset == "volume" else "clinic_bench_demo"
            try:
                recreate_postgres_database(admin_url, name)
            except Exception as error:
                raise HarnessError(f"PostgreSQL from DATABASE_URL: {error}") from error
            variants.append(Variant("PostgreSQL", dataset, postgres_url(database_url, name)))
    return variants


def run_checked(command, env, what, timeout=900):
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise HarnessError(f"{what} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result.stdout


def prepare_data(variants, mode, base_env, admin_password):
    """Migrate, seed and generate every database, in parallel (they are independent)."""
    jobs = []
    for variant in variants:
        out = RESULTS / f"targets-{variant.database}-{variant.dataset}.json".lower()
        command = [PYTHON, "-m", "bench.data", "setup", "--out", str(out)]
        if variant.dataset == "volume":
            command += ["--articles", str(mode.articles), "--appointments", str(mode.appointments)]
        else:
            # A small clinic's next weeks: enough for the admin list to fill its page of 50
            # rows, so that "volume ÷ demo" compares the same page, not 1 row with 50.
            command += ["--appointments", str(DEMO_APPOINTMENTS)]
        env = server_environment(
            base_env, DATABASE_URL=variant.url, BENCH_ADMIN_PASSWORD=admin_password
        )
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        jobs.append((variant, process, out))
    for variant, process, out in jobs:
        stdout, stderr = process.communicate(timeout=900)
        if process.returncode != 0:
            raise HarnessError(f"data for {variant.name} failed:\n{stdout[-2000:]}{stderr[-4000:]}")
        variant.targets = json.loads(out.read_text())


def admin_login(port, password):
    """Log in as the benchmark's superuser; the session cookie then goes to wrk."""
    login = "/admin/login/?next=/admin/"
    page = request(port, "GET", login)
    if page.status != 200:
        return None, f"GET /admin/login/ answered {page.status}"
    cookies = page.cookies()
    forms = [form for form in booking_post.parse_forms(page.text) if "password" in form.fields]
    if not forms:
        return None, "no login form"
    data = {name: forms[0].value(name) for name in forms[0].kinds}
    data.update(username="bench-admin", password=password, next="/admin/")
    answer = request(port, "POST", login, body=data, cookies=cookies)
    cookies.update(answer.cookies())
    if answer.status != 302 or not any("session" in name for name in cookies):
        return None, f"login answered {answer.status}"
    return cookies, None


# ---------------------------------------------------------------------------- measuring


def wrk(port, path, *, duration, connections, cookies=None):
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        "-H",
        "X-Forwarded-Proto: https",
    ]
    if cookies:
        command += ["-H", "Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items())]
    command.append(f"http://127.0.0.1:{port}{path}")
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    for line in result.stdout.splitlines():
        if line.startswith("BENCH "):
            raw = json.loads(line[len("BENCH ") :])
            break
    else:
        raise HarnessError(f"wrk printed no summary:\n{result.stdout}\n{result.stderr}")
    labels = {
        "status": "answers other than 2xx/3xx",
        "connect": "connect errors",
        "read": "read errors",
        "write": "write errors",
        "timeout": "timeouts (10 s)",
    }
    errors = {label: raw[key] for key, label in labels.items() if raw[key]}
    if not raw["requests"]:
        errors["no answer completed within the measurement"] = 1
    seconds = raw["duration_us"] / 1e6
    ok = raw["requests"] - raw["status"]
    return {
        "requests": raw["requests"],
        "ok": ok,
        "seconds": seconds,
        "rps": ok / seconds if seconds else 0.0,
        "p50_ms": raw["p50_us"] / 1000 if raw["requests"] else None,
        "p99_ms": raw["p99_us"] / 1000 if raw["requests"] else None,
        "errors": errors,
        "tool": "wrk",
    }


class Bench:
    def __init__(self, mode, variants, floor, sampler, have_wrk, admin_password, env, smtp):
        self.mode, self.variants, self.floor, self.smtp = mode, variants, floor, smtp
        self.sampler, self.have_wrk = sampler, have_wrk
        self.admin_password, self.env = admin_password, env
        self.measurements = []
        self.sequence = 0
        self.run_id = secrets.token_hex(3)
        self.post_estimates = {}

    # One measurement, recorded in order so that each page finds its neighbouring floors.
    def record(self, rep, page_key, variant_name, result, rss_mb, started):
        self.sequence += 1
        entry = {
            "seq": self.sequence,
            "rep": rep,
            "page": page_key,
            "variant": variant_name,
            "started": started,
            "rss_mb": rss_mb,
            # Other work on the machine shows here: the ratios to the floor absorb some of it.
            "load": os.getloadavg()[0],
            **result,
        }
        self.measurements.append(entry)
        errors = sum(result.get("errors", {}).values())
        print(
            f"   rep {rep} {page_key:13} {variant_name:18} {result['rps']:8.1f} req/s  "
            f"p50 {fmt(result.get('p50_ms'))} ms  p99 {fmt(result.get('p99_ms'))} ms"
            + (f"  errors {errors}" if errors else ""),
            flush=True,
        )
        return entry

    def get(self, server, path, *, duration, connections, cookies=None):
        if self.have_wrk:
            result = wrk(
                server.port, path, duration=duration, connections=connections, cookies=cookies
            )
        else:
            cookie = "; ".join(f"{k}={v}" for k, v in cookies.items()) if cookies else None
            result = load_get(
                server.port,
                path,
                duration=duration,
                concurrency=connections,
                headers={"Cookie": cookie} if cookie else None,
            )
            result["tool"] = "python"
        server.drain()
        return result

    def warm_up(self, pages):
        """Each page on each server once before anything is recorded (imports, templates)."""
        self.get(self.floor, "/", duration=self.mode.warmup, connections=self.mode.concurrency)
        for page in pages:
            for variant in self.variants:
                path = page_path(page, variant)
                if path is None:
                    continue
                self.get(
                    variant.server,
                    path,
                    duration=self.mode.warmup,
                    connections=self.mode.admin_concurrency
                    if page.admin
                    else self.mode.concurrency,
                    cookies=variant.admin_cookies if page.admin else None,
                )

    def measure_floor(self, rep):
        started = time.time()
        self.sampler.open_window(self.floor)
        result = self.get(
            self.floor, "/", duration=self.mode.duration, connections=self.mode.concurrency
        )
        rss = self.sampler.close_window(self.floor)
        self.record(rep, "floor", "floor", result, rss, started)

    def measure_get(self, rep, page, variant):
        path = page_path(page, variant)
        cookies = variant.admin_cookies if page.admin else None
        connections = self.mode.admin_concurrency if page.admin else self.mode.concurrency
        started = time.time()
        self.sampler.open_window(variant.server)
        result = self.get(
            variant.server,
            path,
            duration=self.mode.duration,
            connections=connections,
            cookies=cookies,
        )
        rss = self.sampler.close_window(variant.server)
        result["connections"] = connections
        self.record(rep, page.key, variant.name, result, rss, started)

    def forget_posted(self, variants):
        """Count each database's benchmark bookings and delete them (in parallel)."""
        jobs = {}
        for variant in variants:
            env = server_environment(self.env, DATABASE_URL=variant.url)
            jobs[variant.name] = subprocess.Popen(
                [PYTHON, "-m", "bench.data", "posted", "--forget"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        counts = {}
        for name, process in jobs.items():
            stdout, stderr = process.communicate(timeout=300)
            if process.returncode != 0:
                raise HarnessError(f"counting the bookings of {name} failed:\n{stderr[-3000:]}")
            counts[name] = json.loads(stdout.strip().splitlines()[-1])["posted"]
        return counts

    def measure_posts(self, rep, page, variants):
        """Fetch every variant's forms, wait out the fill time once, then post per variant."""
        batches = {}
        for variant in variants:
            rate = self.post_estimates.get(variant.name, 20.0)
            # Enough forms to keep 16 clients busy for the whole measurement, no more: each
            # costs a GET of /book/, the slowest page to fetch.
            count = int(min(600, max(24, rate * self.mode.duration * 1.15 + 8)))
            try:
                batches[variant.name] = booking_post.prepare(
                    variant.server.port,
                    count,
                    concurrency=self.mode.concurrency,
                    run_id=f"{self.run_id}-{rep}",
                )
            except booking_post.FormUnavailable as problem:
                variant.targets.setdefault("problems", {})[page.key] = str(problem)
        done = []
        for variant in variants:
            prepared = batches.get(variant.name)
            if not prepared:
                continue
            started = time.time()
            self.sampler.open_window(variant.server)
            cpu = CpuMeter(variant.server, self.smtp, variant.database)
            result = booking_post.post(
                variant.server.port,
                prepared,
                concurrency=self.mode.concurrency,
                duration=self.mode.duration,
            )
            # After the emails the run queued have gone out: they are part of its cost.
            variant.server.drain(still_for=POST_STILL_SECONDS)
            rss = self.sampler.close_window(variant.server)
            result.update(tool="python", connections=self.mode.concurrency, forms=len(prepared))
            result["cpu_ms"] = cpu.per_request_ms(result["ok"])
            done.append((variant, result, rss, started))
        stored = self.forget_posted([variant for variant, *_ in done])
        for variant, result, rss, started in done:
            result["stored"] = stored[variant.name]
            if result["stored"] < result["ok"]:
                # Answered like a success, stored nowhere: the spam path, not a booking.
                missing = result["ok"] - result["stored"]
                result["errors"]["answered as booked but not stored"] = missing
                result["ok"] = result["stored"]
                result["rps"] = result["stored"] / result["seconds"]
            if rep > 0:
                self.record(rep, page.key, variant.name, result, rss, started)
            if result["rps"]:
                self.post_estimates[variant.name] = result["rps"]

    def run(self, pages):
        get_pages = [page for page in pages if page.method == "GET"]
        post_pages = [page for page in pages if page.method == "POST"]
        if self.mode.warmup:
            print("== warming up every page on every server", flush=True)
            self.warm_up(get_pages)
        if post_pages and self.mode.warmup:
            print("== warming up the booking POST (its forms wait out the fill time)", flush=True)
            self.measure_posts(0, post_pages[0], self.variants)
        for rep in range(1, self.mode.reps + 1):
            print(f"== repetition {rep} of {self.mode.reps}", flush=True)
            # Each repetition serves the data sets in a different order.
            shift = (rep - 1) % len(self.variants)
            order = self.variants[shift:] + self.variants[:shift]
            self.measure_floor(rep)
            since_floor = 0
            for page in get_pages + post_pages:
                live = [v for v in order if page_path(page, v) is not None]
                if page.method == "POST":
                    self.measure_posts(rep, page, live)
                else:
                    for variant in live:
                        self.measure_get(rep, page, variant)
                since_floor += 1
                if since_floor >= self.mode.floor_every:
                    self.measure_floor(rep)
                    since_floor = 0
            if since_floor:
                self.measure_floor(rep)


def fmt(value):
    return "   -  " if value is None else f"{value:6.1f}"


def page_path(page, variant):
    """The page's path on this variant, or None when it cannot be measured there."""
    problems = variant.targets.get("problems", {})
    if page.key in problems:
        return None
    if page.admin and not variant.admin_cookies:
        return None
    if page.path and page.path.startswith("@"):
        return variant.targets.get(page.path[1:])
    return page.path


PAGES = [
    Page("home", "Home", "/"),
    Page("article_list", "Article list", "/articles/"),
    Page("article", "An article", "@article"),
    Page("topic", "Topic page", "@topic"),
    Page("feed", "Feed", "/articles/feed/"),
    Page("book", "/book/ (GET, with its availability)", "/book/"),
    Page("book_post", "Booking POST", "/book/", method="POST"),
    Page("request", "Patient's request page", "@request"),
    Page("admin", "Admin appointment list (logged in)", ADMIN_LIST, admin=True),
]


def check_pages(variants, pages):
    """One request per page and data set before any load: status, caching headers, 304."""
    for variant in variants:
        checks = variant.targets.setdefault("checks", {})
        problems = variant.targets.setdefault("problems", {})
        for page in pages:
            path = page_path(page, variant)
            if page.admin and not variant.admin_cookies:
                problems[page.key] = variant.admin_problem or "could not log in"
                continue
            if path is None:
                problems.setdefault(page.key, "no such page in the data (see bench.data)")
                continue
            cookies = variant.admin_cookies if page.admin else None
            response = request(variant.server.port, "GET", path, cookies=cookies)
            check = {
                "status": response.status,
                "bytes": len(response.body),
                "etag": response.header("ETag"),
                "last_modified": response.header("Last-Modified"),
                "cache_control": response.header("Cache-Control"),
                "vary": response.header("Vary"),
            }
            validator = {}
            if check["etag"]:
                validator["If-None-Match"] = check["etag"]
            if check["last_modified"]:
                validator["If-Modified-Since"] = check["last_modified"]
            if validator and response.status == 200:
                again = request(variant.server.port, "GET", path, headers=validator)
                check["repeat_status"] = again.status
            checks[page.key] = check
            if response.status != 200:
                where = response.header("Location")
                problems[page.key] = f"HTTP {response.status}" + (f" to {where}" if where else "")


def in_process(variant, env, pages, mode):
    """Availability timing and query counts, measured inside Django (bench/inprocess.py)."""
    paths = {page.key: page_path(page, variant) for page in pages if page.method == "GET"}
    env = server_environment(
        env,
        DATABASE_URL=variant.url,
        BENCH_PAGES=json.dumps(paths),
        BENCH_TIMING_RUNS=7 if mode.reps > 1 else 2,
        DJANGO_ALLOWED_HOSTS="testserver,127.0.0.1,localhost",
    )
    try:
        out = run_checked([PYTHON, "-m", "bench.inprocess"], env, "in-process", timeout=300)
        return json.loads(out.strip().splitlines()[-1])
    except (HarnessError, ValueError, IndexError) as error:
        return {"error": str(error)[-600:]}


def machine():
    def first(path, prefix):
        with contextlib.suppress(OSError):
            for line in Path(path).read_text().splitlines():
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
        return "unknown"

    mem_kb = first("/proc/meminfo", "MemTotal").split()[0]
    os_name = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(int(mem_kb) / 1024 / 1024, 1) if mem_kb.isdigit() else None,
        "cpu": first("/proc/cpuinfo", "model name"),
        "os": os_name,
        "kernel": platform.release(),
        "load_before": os.getloadavg()[0],
    }


def versions(have_wrk, pg_admin_url):
    import sqlite3
    from importlib.metadata import version

    found = {"Python": platform.python_version()}
    for package in ("Django", "gunicorn", "whitenoise", "psycopg", "django-axes"):
        with contextlib.suppress(Exception):
            found[package] = version(package)
    found["SQLite"] = sqlite3.sqlite_version
    if pg_admin_url:
        with contextlib.suppress(Exception):
            found["PostgreSQL"] = postgres_version(pg_admin_url)
    if have_wrk:
        result = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        found["wrk"] = (result.stdout or result.stderr).split("[")[0].replace("wrk", "").strip()
    with contextlib.suppress(Exception):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        found["commit"] = commit
    return found


def start_smtp_sink(port, log_path):
    """A local SMTP server that accepts and drops mail, so bookings send their emails."""
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        return None
    log = open(log_path, "wb")  # noqa: SIM115 (the process keeps it)
    process = subprocess.Popen(
        [PYTHON, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Sink"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return process
        time.sleep(0.1)
    process.kill()
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--short", action="store_true", help="a few seconds a page (CI)")
    parser.add_argument("--out", help="where to write the Markdown report")
    args = parser.parse_args(argv)
    short = args.short or os.environ.get("BENCH_SHORT", "") not in ("", "0")
    mode = SHORT if short else FULL
    out = (
        Path(args.out)
        if args.out
        else (RESULTS / "PERFORMANCE-short.md" if short else ROOT / "docs" / "PERFORMANCE.md")
    )
    began = time.monotonic()
    try:
        results = run(mode)
    except HarnessError as error:
        print(f"\nThe benchmark harness broke: {error}", file=sys.stderr)
        return 2
    results["elapsed_s"] = time.monotonic() - began
    results["command"] = "make bench" + (" BENCH_SHORT=1" if short else "")
    (RESULTS / f"results-{mode.name}.json").write_text(json.dumps(results, indent=2, default=str))
    report.write(out, results)
    print(f"\n== report written to {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    print(f"== took {results['elapsed_s'] / 60:.1f} minutes")
    return 0


def run(mode):
    RESULTS.mkdir(parents=True, exist_ok=True)
    notes = []
    info = machine()
    have_wrk = ensure_wrk(notes)
    admin_password = secrets.token_urlsafe(18)
    taken = set()
    smtp_port = free_port(SMTP_PORT_RANGE, taken)
    base_env = {
        key: value
        for key, value in os.environ.items()
        # Each server gets its own database; the cache stays per process (see the report).
        # Python writes and reads bytecode caches, as on a deployed server, where `manage.py
        # migrate` has written them; compiling every module from source at each start would
        # leave the master's heap, and so every worker, about 1 MB larger than deployed.
        if key
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "DJANGO_ROOT_URLCONF",
            "DJANGO_DEBUG",
            "PYTHONDONTWRITEBYTECODE",
        }
    }
    base_env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-" + secrets.token_urlsafe(48),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        CLINIC_SITE_URL="https://clinic.bench.invalid",
        # Raised so that the benchmark's thousands of requests from one address are served.
        CLINIC_BOOKING_RATE="1000000/h",
        CLINIC_BOOKING_EMAIL_RATE="1000000/d",
        GUNICORN_WORKERS="2",
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_port}",
    )

    print(f"== {mode.name} run: building the databases", flush=True)
    variants = build_variants(mode == SHORT)
    pg_admin = None
    if any(v.database == "PostgreSQL" for v in variants):
        pg_admin = postgres_admin_url(os.environ["DATABASE_URL"])
    collect = subprocess.Popen(
        [PYTHON, "-m", "bench.static"],
        cwd=ROOT,
        env=server_environment(base_env, DATABASE_URL=variants[0].url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    setup_began = time.monotonic()
    prepare_data(variants, mode, base_env, admin_password)
    collect_out, _ = collect.communicate(timeout=300)
    if collect.returncode != 0:
        raise HarnessError(f"collectstatic failed:\n{collect_out[-3000:]}")
    static_note = "collectstatic run" if "collected" in collect_out else "static files current"
    setup_seconds = time.monotonic() - setup_began
    print(f"   data ready, {static_note}, in {setup_seconds:.0f} s", flush=True)

    smtp = start_smtp_sink(smtp_port, RESULTS / "smtp.log")
    if smtp is None:
        base_env["EMAIL_URL"] = "dummy://"
        notes.append("No SMTP sink (aiosmtpd missing): emails went to Django's dummy backend.")

    floor_env = server_environment(
        base_env, DATABASE_URL=variants[-1].url, DJANGO_ROOT_URLCONF="bench.floor_urls"
    )
    floor = Server("floor", free_port(PORTS, taken), floor_env, RESULTS / "gunicorn-floor.log")
    for variant in variants:
        slug = f"{variant.database}-{variant.dataset}".lower()
        env = server_environment(base_env, DATABASE_URL=variant.url)
        variant.server = Server(
            variant.name, free_port(PORTS, taken), env, RESULTS / f"gunicorn-{slug}.log"
        )
    servers = [floor] + [variant.server for variant in variants]
    sampler = MemorySampler(servers)
    try:
        print("== starting gunicorn (2 sync workers each)", flush=True)
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready()
        sampler.start()
        for variant in variants:
            variant.admin_cookies, variant.admin_problem = admin_login(
                variant.server.port, admin_password
            )
        check_pages(variants, PAGES)
        bench = Bench(mode, variants, floor, sampler, have_wrk, admin_password, base_env, smtp)
        bench.run(PAGES)
        peaks = {server.name: sampler.peak_mb(server) for server in servers}
        memory_after = {server.name: worker_memory(server) for server in servers}
        logs = {server.name: count_server_errors(server) for server in servers}
    finally:
        sampler.stopping.set()
        for server in servers:
            server.stop()
        if smtp is not None:
            smtp.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                smtp.wait(5)

    print("== in-process: availability and query counts", flush=True)
    inprocess = {variant.name: in_process(variant, base_env, PAGES, mode) for variant in variants}
    return {
        "mode": {**mode.__dict__, "demo_appointments": DEMO_APPOINTMENTS},
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": info,
        "versions": versions(have_wrk, pg_admin),
        "notes": notes,
        "setup_seconds": setup_seconds,
        "pages": [page.__dict__ for page in PAGES],
        "variants": [
            {"name": v.name, "database": v.database, "dataset": v.dataset, "targets": v.targets}
            for v in variants
        ],
        "measurements": bench.measurements,
        "peak_rss_mb": peaks,
        "memory_after": memory_after,
        "server_errors": logs,
        "inprocess": inprocess,
        "cache": "local memory, per worker (REDIS_URL unset for the run)",
        "load_after": os.getloadavg()[0],
        "static": static_note,
    }


def count_server_errors(server):
    """Tracebacks and 5xx lines in a server's log (its access log shows status codes)."""
    text = ""
    with contextlib.suppress(OSError):
        text = server.log_path.read_text(errors="replace")
    fives = sum(1 for line in text.splitlines() if '" 5' in line)
    return {"tracebacks": text.count("Traceback (most recent call last)"), "5xx": fives}


def median(values):
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


if __name__ == "__main__":
    sys.exit(main())
