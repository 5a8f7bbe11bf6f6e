"""docs/PERFORMANCE.md from a run's results: tables per database and the bars of issue 9.

Only the part between the markers is rewritten, so notes written below it (profiles,
explanations) survive the next run.
"""

import statistics
from pathlib import Path

BEGIN = "<!-- bench:begin (written by `make bench`: edit outside these markers) -->"
END = "<!-- bench:end -->"
CACHED_PAGES = ["home", "article_list", "article", "topic"]


def median(values):
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def with_floor_ratios(measurements):
    """Each page measurement with the floor measured just before and just after it."""
    floors = [m for m in measurements if m["page"] == "floor"]
    rows = []
    for m in measurements:
        if m["page"] == "floor":
            continue
        before = [f for f in floors if f["seq"] < m["seq"]]
        after = [f for f in floors if f["seq"] > m["seq"]]
        near = ([before[-1]] if before else []) + ([after[0]] if after else [])
        floor_rps = statistics.fmean(f["rps"] for f in near) if near else None
        gap = max((abs(f["started"] - m["started"]) for f in near), default=None)
        row = {
            **m,
            "floor_rps": floor_rps,
            "ratio": m["rps"] / floor_rps if floor_rps else None,
            "floor_gap_s": gap,
        }
        # Latencies too, as multiples of the floor's own (lower is better).
        for key in ("p50_ms", "p99_ms"):
            floor_value = [f.get(key) for f in near if f.get(key)]
            if m.get(key) and floor_value:
                row[f"{key}_x"] = m[key] / statistics.fmean(floor_value)
        rows.append(row)
    return rows


def summarise(results):
    """{(page, variant): medians over repetitions} and the floor's own medians."""
    rows = with_floor_ratios(results["measurements"])
    table = {}
    for row in rows:
        table.setdefault((row["page"], row["variant"]), []).append(row)
    summary = {}
    for key, group in table.items():
        errors = {}
        for row in group:
            for kind, count in row.get("errors", {}).items():
                errors[kind] = errors.get(kind, 0) + count
        summary[key] = {
            "rps": median(r["rps"] for r in group),
            "ratio": median(r["ratio"] for r in group),
            "p50_ms": median(r.get("p50_ms") for r in group),
            "p99_ms": median(r.get("p99_ms") for r in group),
            "p50_x": median(r.get("p50_ms_x") for r in group),
            "p99_x": median(r.get("p99_ms_x") for r in group),
            "rss_mb": max((r.get("rss_mb") or 0 for r in group), default=None),
            "requests": sum(r.get("requests", 0) for r in group),
            "errors": errors,
            "connections": group[0].get("connections"),
            "tool": group[0].get("tool"),
            "reps": len(group),
            "floor_gap_s": max((r["floor_gap_s"] or 0 for r in group), default=None),
            "cpu_ms": {
                role: median(r.get("cpu_ms", {}).get(role) for r in group)
                for role in dict.fromkeys(role for r in group for role in r.get("cpu_ms", {}))
            },
        }
    floors = [m for m in results["measurements"] if m["page"] == "floor"]
    floor = {
        "rps": median(f["rps"] for f in floors),
        "p50_ms": median(f.get("p50_ms") for f in floors),
        "p99_ms": median(f.get("p99_ms") for f in floors),
        "rss_mb": max((f.get("rss_mb") or 0 for f in floors), default=None),
        "count": len(floors),
        "min_rps": min((f["rps"] for f in floors), default=None),
        "max_rps": max((f["rps"] for f in floors), default=None),
    }
    return summary, floor


def latency(value, times):
    if value is None:
        return "–"
    return f"{value:,.1f}" + (f" ({times:.0f}×)" if times is not None else "")


def load_range(results):
    loads = [m["load"] for m in results["measurements"] if m.get("load") is not None]
    return f"{min(loads):.1f}–{max(loads):.1f}" if loads else "–"


def num(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def ratio(value):
    return "–" if value is None else f"{value:.2f}"


def variant(results, database, dataset):
    for v in results["variants"]:
        if v["database"] == database and v["dataset"] == dataset:
            return v
    return None


def queries_cell(results, database, key):
    counts = []
    for dataset in ("demo", "volume"):
        name = f"{database} {dataset}"
        page = results["inprocess"].get(name, {}).get("pages", {}).get(key)
        if not page:
            return "–"
        counts.append(str(page["repeat"]["queries"]))
    return " → ".join(counts)


def problem(results, database, dataset, key):
    v = variant(results, database, dataset)
    return (v or {}).get("targets", {}).get("problems", {}).get(key)


def database_table(results, summary, floor, database):
    pages = results["pages"]
    lines = [
        f"### {database}",
        "",
        "| page | req/s | × floor | p50 ms (× floor's) | p99 ms (× floor's) | worker RSS MB"
        " | × floor, demo data only"
        " | cost with volume ÷ demo | queries, demo → volume | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        f"| floor (constant response) | {num(floor['rps'])} | 1.00 | {num(floor['p50_ms'], 1)}"
        f" | {num(floor['p99_ms'], 1)} | {num(floor['rss_mb'], 1)} | | | 0 | |",
    ]
    for page in pages:
        key = page["key"]
        vol = summary.get((key, f"{database} volume"))
        demo = summary.get((key, f"{database} demo"))
        trouble = problem(results, database, "volume", key)
        label = page["label"]
        if vol is None:
            lines.append(
                f"| {label} | not measured: {trouble or 'no result'} | | | | | | | "
                f"{queries_cell(results, database, key)} | |"
            )
            continue
        growth = demo["rps"] / vol["rps"] if demo and vol["rps"] else None
        errors = ", ".join(f"{k}: {v}" for k, v in vol["errors"].items()) or "0"
        lines.append(
            f"| {label} | {num(vol['rps'])} | {ratio(vol['ratio'])}"
            f" | {latency(vol['p50_ms'], vol['p50_x'])} | {latency(vol['p99_ms'], vol['p99_x'])}"
            f" | {num(vol['rss_mb'], 1)}"
            f" | {ratio(demo['ratio']) if demo else '–'} | {ratio(growth)}"
            f" | {queries_cell(results, database, key)} | {errors} |"
        )
    return lines


def bars(results, summary):
    """(bar, {database: (verdict, detail)}) for each bar of issue 9."""
    databases = sorted(
        {v["database"] for v in results["variants"]}, key=["SQLite", "PostgreSQL"].index
    )
    labels = {page["key"]: page["label"] for page in results["pages"]}
    out = []

    def get(key, database, dataset="volume"):
        return summary.get((key, f"{database} {dataset}"))

    def missing(key, database):
        return problem(results, database, "volume", key) or "no result"

    def ratio_bar(keys, threshold, title):
        verdicts = {}
        for database in databases:
            failing, details, unmeasured = [], [], []
            for key in keys:
                row = get(key, database)
                if row is None or row["ratio"] is None:
                    unmeasured.append(f"{labels[key]}: {missing(key, database)}")
                    continue
                details.append(f"{labels[key]} {row['ratio']:.2f}")
                if row["ratio"] < threshold:
                    failing.append(labels[key])
            verdict = "not met" if failing or unmeasured else "met"
            verdicts[database] = (verdict, "; ".join(details + unmeasured))
        out.append((title, verdicts))

    ratio_bar(CACHED_PAGES, 0.8, "Home, article list, article, topic: ≥ 0.8 of the floor")

    verdicts = {}
    for database in databases:
        v = variant(results, database, "volume") or {}
        checks = v.get("targets", {}).get("checks", {})
        details, ok = [], True
        for key in CACHED_PAGES:
            check = checks.get(key)
            if not check or check.get("status") != 200:
                ok = False
                details.append(f"{labels[key]}: not served")
                continue
            validators = [n for n in ("etag", "last_modified") if check.get(n)]
            repeat = check.get("repeat_status")
            if repeat != 304:
                ok = False
            details.append(
                f"{labels[key]}: {'+'.join(validators) or 'no ETag/Last-Modified'}"
                + (f", repeat {repeat}" if repeat else "")
            )
        verdicts[database] = ("met" if ok else "not met", "; ".join(details))
    out.append(("Those pages answer a repeat visit with 304 (ETag or Last-Modified)", verdicts))

    ratio_bar(["book"], 0.3, "/book/ GET with its availability: ≥ 0.3 of the floor")

    verdicts = {}
    for database in databases:
        row = get("book_post", database)
        if row is None:
            verdicts[database] = ("not met", f"not measured: {missing('book_post', database)}")
            continue
        errors = sum(row["errors"].values())
        ok = (
            row["ratio"] is not None
            and row["ratio"] >= 0.15
            and row["p99_ms"] is not None
            and row["p99_ms"] < 300
            and errors == 0
        )
        verdicts[database] = (
            "met" if ok else "not met",
            f"{ratio(row['ratio'])} of the floor, p99 {num(row['p99_ms'])} ms at "
            f"{row['connections']} clients, {errors} errors in {row['requests']} requests",
        )
    out.append(
        ("Booking POST: ≥ 0.15 of the floor, p99 < 300 ms at 16 clients, no errors", verdicts)
    )

    verdicts = {}
    for database in databases:
        row = get("admin", database)
        demo_q = queries_cell(results, database, "admin")
        if row is None:
            verdicts[database] = ("not met", f"not measured: {missing('admin', database)}")
            continue
        counts = demo_q.split(" → ")
        fixed = len(counts) == 2 and counts[0] == counts[1] and counts[0] != "–"
        ok = row["p50_ms"] is not None and row["p50_ms"] < 150 and fixed
        verdicts[database] = (
            "met" if ok else "not met",
            f"median {num(row['p50_ms'])} ms at {row['connections']} clients; queries {demo_q}",
        )
    out.append(("Admin appointment list (volume): median < 150 ms, fixed query count", verdicts))

    verdicts = {}
    for database in databases:
        found = results["inprocess"].get(f"{database} volume", {}).get("availability", {})
        if "median_ms" not in found:
            reason = found.get("status") or found.get("error") or "not measured"
            verdicts[database] = ("not met", f"not measured: {reason}")
            continue
        ok = found["queries"] <= 3 and found["median_ms"] < 50
        verdicts[database] = (
            "met" if ok else "not met",
            f"{found['queries']} queries, median {found['median_ms']:.1f} ms "
            f"({found['slots']} slots)",
        )
    out.append(("Availability, 60 days × 5 practitioners: ≤ 3 queries, < 50 ms", verdicts))

    if "PostgreSQL" in databases:
        failing, details = [], []
        for page in results["pages"]:
            pg, lite = get(page["key"], "PostgreSQL"), get(page["key"], "SQLite")
            if not pg or not lite or not pg["ratio"] or not lite["ratio"]:
                continue
            share = pg["ratio"] / lite["ratio"]
            details.append(f"{page['label']} {share:.2f}")
            if share < 0.8:
                failing.append(page["label"])
        verdict = "not met" if failing or not details else "met"
        out.append(
            (
                "PostgreSQL (persistent connections) ≥ 0.8 of SQLite on every page",
                {"PostgreSQL": (verdict, "; ".join(details) or "no page measured on both")},
            )
        )

    verdicts = {}
    for database in databases:
        peaks = [
            value
            for name, value in results["peak_rss_mb"].items()
            if name.startswith(database) and value
        ]
        peak = max(peaks) if peaks else None
        verdicts[database] = (
            "met" if peak is not None and peak < 60 else "not met",
            f"peak {num(peak, 1)} MB",
        )
    out.append(("Peak RSS per worker < 60 MB", verdicts))

    verdicts = {}
    for database in databases:
        failing, details = [], []
        for page in results["pages"]:
            vol, demo = get(page["key"], database), get(page["key"], database, "demo")
            if not vol or not demo or not vol["rps"]:
                continue
            growth = demo["rps"] / vol["rps"]
            if growth > 1.5:
                failing.append(f"{page['label']} {growth:.2f}")
        measured = [p for p in results["pages"] if get(p["key"], database)]
        detail = "; ".join(failing) if failing else f"all {len(measured)} measured pages ≤ 1.5"
        verdicts[database] = ("not met" if failing else "met", detail)
    out.append(("Every page within 1.5 × its cost with the demo data alone", verdicts))
    return databases, out


def cpu_per_booking(results, summary, floor):
    """What one booking POST costs in CPU, by process, and the rate that allows."""
    rows = []
    for v in results["variants"]:
        cpu = summary.get(("book_post", v["name"]), {}).get("cpu_ms")
        if cpu:
            rows.append((v["name"], cpu))
    if not rows:
        return []
    roles = list(dict.fromkeys(role for _, cpu in rows for role in cpu))
    cores = results["machine"]["nproc"]
    lines = [
        "### What a booking costs, by process",
        "",
        "CPU milliseconds per stored booking during the booking POST runs (medians over "
        "repetitions), read from /proc before and after each run, which ends once the "
        "emails it queued have gone out. Every process shares the same "
        f"{cores} cores, so {cores * 1000:,} ms ÷ the total is the most bookings a second "
        "this machine could take with nothing else to do.",
        "",
        "| data set | " + " | ".join(roles) + " | total | at most, bookings/s | × floor |",
        "| --- | " + " | ".join("---:" for _ in roles) + " | ---: | ---: | ---: |",
    ]
    for name, cpu in rows:
        total = sum(value or 0 for value in cpu.values())
        most = cores * 1000 / total if total else None
        lines.append(
            f"| {name} | "
            + " | ".join(num(cpu.get(role), 1) for role in roles)
            + f" | {num(total, 1)} | {num(most)} | "
            + (ratio(most / floor["rps"]) if most and floor["rps"] else "–")
            + " |"
        )
    return lines + [""]


def render(results):
    summary, floor = summarise(results)
    mode = results["mode"]
    machine = results["machine"]
    lines = [
        BEGIN,
        "",
        f"Run on {results['date']} with `{results['command']}` ({mode['name']} mode, "
        f"{results['elapsed_s'] / 60:.1f} minutes; "
        f"data built in {results['setup_seconds']:.0f} s).",
        "",
        "## Machine and versions",
        "",
        f"- {machine['nproc']} CPUs (`nproc`), {machine['memory_gb']} GB memory, "
        f"CPU: {machine['cpu']}; {machine['os']}, Linux {machine['kernel']}; "
        f"load average {machine['load_before']:.1f} before the run, "
        f"{results.get('load_after', 0):.1f} after, {load_range(results)} during the "
        "measurements (the machine is shared: other work shows in the floor's range too).",
        "- " + ", ".join(f"{name} {value}" for name, value in results["versions"].items()),
        f"- Cache: {results['cache']}.",
        "",
        "## How it was measured",
        "",
        "- `make bench` runs `python -m bench.run`. Each database is built twice: the demo "
        "data alone (`seed_demo`, plus the five practitioners, a staff account and one patient "
        "request the benchmark needs, and "
        f"{mode.get('demo_appointments', 0):,} appointments in the coming weeks, a small "
        "clinic's calendar: enough for the admin list to show its full page of 50 rows, so "
        "that the two data sets are compared on the same page) and the demo data plus volume "
        f"({mode['articles']:,} published articles, {mode['appointments']:,} appointments "
        "over two years across 5 practitioners, written with bulk_create; past ones "
        "completed or cancelled, the next 60 days about 40 % booked, requested or confirmed, "
        "never overlapping for one practitioner). On PostgreSQL, `VACUUM ANALYZE` follows the "
        "load, as autovacuum would within minutes on a running server: without it the planner "
        "has no statistics and counts read the whole table.",
        "- One gunicorn per database and data set, started as deployed: "
        "`gunicorn -c gunicorn.conf.py clinic.wsgi`, 2 sync workers, `DJANGO_DEBUG=false`, "
        "`DJANGO_SECRET_KEY` set, WhiteNoise, `collectstatic` done "
        f"({results.get('static', '')}), bytecode caches written (as `manage.py migrate` "
        "leaves them on a server), on 127.0.0.1. Every "
        "request carries `X-Forwarded-Proto: https`, as nginx would send it, so "
        "`SECURE_SSL_REDIRECT` stays on. PostgreSQL uses the settings' `CONN_MAX_AGE` and "
        "`CONN_HEALTH_CHECKS`. Booking rate limits are raised through `CLINIC_BOOKING_RATE` "
        "and `CLINIC_BOOKING_EMAIL_RATE`; emails go to a local SMTP server that drops them.",
        "- **The floor** is one more gunicorn with the same settings and middleware and "
        "`DJANGO_ROOT_URLCONF=bench.floor_urls` (one view, a constant response). It is "
        f"measured at the start of each repetition and after every {mode['floor_every']} "
        "pages; each page's ratio is to the mean of the floor measurements just before and "
        "after it.",
        f"- Load: `wrk -t1 -c{mode['concurrency']} -d{mode['duration']}s` (a new connection "
        "per request: gunicorn's sync workers close each one), "
        + (
            f"after a warm-up pass ({mode['warmup']} s of each page on each server), "
            if mode["warmup"]
            else "no warm-up, "
        )
        + f"{mode['reps']} repetition(s), medians; the data sets are interleaved page by "
        "page, in an order that rotates with each repetition. After each load run the "
        "harness waits until the server has served what wrk left queued, so that no page "
        "is billed for the one before it. The admin list is loaded with "
        f"{mode['admin_concurrency']} connections (a few staff at once) and the session "
        "cookie of a superuser logged in through the login form.",
        "- **Booking POST**: a Python client (threads + http.client, 16 clients) first fetches "
        "a batch of forms (each with its own CSRF cookie and token and signed timestamp), "
        "waits until the newest is more than 3 s old, then posts them, each with its own "
        "email and open time (forms are fetched for each practitioner and each day the page "
        "links to, with the shortest service, so that no two requests want the same time); "
        "a request counts only if the site redirects to the request's page and the booking is "
        "stored (counted in the database afterwards, then deleted so each repetition finds the "
        "same free slots).",
        "- RSS: each worker's `/proc/<pid>/status` sampled every 0.2 s; the table shows the "
        "largest VmRSS during the page's measurements, the bar the largest VmHWM of any worker.",
        "- In-process (after the load, servers stopped): each page's queries through Django's "
        "test client (second request, so with a warm cache), and the availability function "
        "timed with `timeit` (the cache cleared before each call, but for the clinic's "
        "record, which a running site always has cached).",
        "",
        "## Results",
        "",
        'Figures are for the data with volume unless said otherwise. "× floor" is requests '
        "per second as a fraction of the floor's, and latencies carry their multiple of the "
        'floor\'s latency measured around them; "cost with volume ÷ demo" is the demo '
        "data's requests per second over the volume's (1.00 = no growth). Bare numbers are "
        "there to read the bars by; compare runs by the ratios.",
        "",
        f"Floor: median {num(floor['rps'])} req/s over {floor['count']} measurements "
        f"(range {num(floor['min_rps'])}–{num(floor['max_rps'])}).",
        "",
    ]
    databases, bar_rows = bars(results, summary)
    for database in databases:
        lines += database_table(results, summary, floor, database) + [""]

    lines += cpu_per_booking(results, summary, floor)
    lines += ["### Worker memory after the run", ""]
    for name, workers in results.get("memory_after", {}).items():
        described = "; ".join(
            f"RSS {num(w['rss'], 1)}, peak {num(w['hwm'], 1)}, PSS {num(w['pss'], 1)}"
            for w in workers
        )
        peak = results["peak_rss_mb"].get(name)
        lines.append(
            f"- {name}: {described or 'no live worker'} (MB); highest RSS of any worker "
            f"seen during the run {num(peak, 1)} MB."
        )
    lines += [
        "",
        "RSS counts the pages a worker shares with the gunicorn master (preload_app); PSS "
        "divides them among the processes sharing them. gunicorn recycles workers after "
        "max_requests (gunicorn.conf.py), so the live ones may be younger than the run.",
        "",
        "### Availability, in process",
        "",
    ]
    for name, found in results["inprocess"].items():
        avail = found.get("availability", {})
        if "median_ms" in avail:
            lines.append(
                f"- {name}: `{avail['call']}`: {avail['slots']} slots, {avail['queries']} "
                f"queries, median {avail['median_ms']:.1f} ms (min {avail['min_ms']:.1f}, "
                f"{avail['runs']} runs)."
            )
        else:
            reason = avail.get("status") or found.get("error") or "not measured"
            lines.append(f"- {name}: not measured: {reason}")
    lines += [
        "",
        "## The bars of issue 9",
        "",
        "| bar | " + " | ".join(databases) + " |",
        "| --- | " + " | ".join("---" for _ in databases) + " |",
    ]
    for title, verdicts in bar_rows:
        cells = []
        for database in databases:
            if database in verdicts:
                verdict, detail = verdicts[database]
                cells.append(f"**{verdict}**: {detail}")
            else:
                cells.append("")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")

    lines += ["", "## Problems seen during the run", ""]
    seen = False
    for v in results["variants"]:
        for key, text in v["targets"].get("problems", {}).items():
            lines.append(f"- {v['name']}: {key} not measured: {text}.")
            seen = True
    for name, counts in results["server_errors"].items():
        if counts["tracebacks"] or counts["5xx"]:
            lines.append(
                f"- gunicorn {name}: {counts['5xx']} responses 5xx, "
                f"{counts['tracebacks']} tracebacks in its log."
            )
            seen = True
    for (key, name), row in sorted(summary.items()):
        if row["errors"]:
            detail = ", ".join(f"{kind}: {count}" for kind, count in row["errors"].items())
            lines.append(f"- {name}, {key}: errors under load: {detail}.")
            seen = True
    for note in results["notes"]:
        lines.append(f"- {note}")
        seen = True
    if not seen:
        lines.append("- None.")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def write(path, results):
    path = Path(path)
    generated = render(results)
    if path.exists():
        text = path.read_text()
        if BEGIN in text and END in text:
            before = text.split(BEGIN, 1)[0]
            after = text.split(END, 1)[1]
            path.write_text(before + generated.rstrip("\n") + after)
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# Performance\n\n" + generated)
