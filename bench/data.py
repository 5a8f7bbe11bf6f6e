"""Benchmark data: the demo site plus the volume a busy clinic piles up over two years.

Run inside a configured Django (DATABASE_URL picks the database):

    python -m bench.data setup --articles 1000 --appointments 100000 --out targets.json
    python -m bench.data posted --forget

`setup` migrates, runs `seed_demo`, adds what the benchmark needs on every data set (five
practitioners, a staff account, one patient request to look at) and then, if asked, the
volume: published articles and appointments written with bulk_create. It prints (and
writes with --out) the URLs to measure. `posted` counts, and with --forget deletes, the
requests the booking POST benchmark made, so that each repetition finds the same free slots.
"""

import argparse
import io
import json
import os
import random
import sys
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PRACTITIONER_COUNT = 5
ADMIN_USERNAME = "bench-admin"
# Benchmark bookings are recognisable by their address, and only they are ever forgotten.
POSTED_EMAIL_PREFIX = "bench-post-"
POSTED_EMAIL_DOMAIN = "example.com"
GENERATED_SLUG_PREFIX = "bench-"
# Generated appointments: history before today, bookings ahead within the booking horizon.
HISTORY_DAYS = 730
FUTURE_DAYS = 60
# How much of the practitioners' working time ahead is already booked.
FUTURE_OCCUPANCY = 0.4

FIRST_NAMES = ["Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hugo", "Iris", "Jon"]
LAST_NAMES = ["Abara", "Brooks", "Castillo", "Dunn", "Eriksen", "Fofana", "Gupta", "Hale"]
EXTRA_PRACTITIONERS = [
    ("Priya Natarajan, L.Ac.", "bench-priya-natarajan"),
    ("Tomás Ruiz, L.Ac.", "bench-tomas-ruiz"),
    ("Hana Sato, L.Ac.", "bench-hana-sato"),
    ("Lena Brandt, L.Ac.", "bench-lena-brandt"),
    ("Kofi Mensah, L.Ac.", "bench-kofi-mensah"),
]
# Monday to Friday 9:00-17:00, Saturday 9:00-13:00 (the demo clinic's hours).
WEEKLY_HOURS = [(day, time(9), time(17)) for day in range(5)] + [(5, time(9), time(13))]

ARTICLE_BODY = """\
Back pain is common, and most of it gets better within a few weeks. This article is
generated for the benchmark (number {n}); it has the length and shape of a real one.

## What the research says

Trials of acupuncture for chronic low back pain found a modest benefit over usual care
in the short term. The effect is small, and it is not the same for everyone.

- Most people feel little or nothing from the needles.
- Some have a small bruise or feel tired afterwards.
- Serious side effects are rare with a licensed practitioner.

## What a first visit looks like

We ask about your pain, your health and your medicines, examine your back, and agree on a
plan with you. {filler}

## When to seek urgent care instead

New loss of bladder or bowel control, numbness in the groin, or weakness in the legs need
urgent care, not an appointment.
"""
FILLER = "Treatment is usually weekly for a few weeks, then we review how it went. " * 12


def setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinic.settings")
    import django

    django.setup()


def ensure_practitioners(count=PRACTITIONER_COUNT):
    """At least `count` active practitioners, each with the demo clinic's weekly hours."""
    from booking.models import Practitioner, WorkingHours

    existing = Practitioner.objects.active().count()
    for name, slug in EXTRA_PRACTITIONERS[: max(0, count - existing)]:
        practitioner, created = Practitioner.objects.get_or_create(
            slug=slug, defaults={"name": name, "position": 10}
        )
        if created:
            WorkingHours.objects.bulk_create(
                WorkingHours(practitioner=practitioner, weekday=day, start_time=start, end_time=end)
                for day, start, end in WEEKLY_HOURS
            )
    return list(Practitioner.objects.active()[:count])


def ensure_admin(password):
    """The superuser the admin list is measured as."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    user = User.objects.filter(username=ADMIN_USERNAME).first()
    if user is None:
        user = User.objects.create_superuser(ADMIN_USERNAME, "bench-admin@example.com", password)
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    return user


def ensure_topics():
    from articles.models import Topic

    if not Topic.objects.exists():
        for name in ["Low back pain", "Sciatica", "Neck pain", "What to expect"]:
            Topic.objects.create(name=name, slug=name.lower().replace(" ", "-"))
    return list(Topic.objects.order_by("pk"))


def ensure_published_articles(minimum=3):
    """A few published articles when seed_demo brought none (its starter set may be missing).

    Returns how many were added, so the report can say so.
    """
    from articles.models import Article

    missing = minimum - Article.objects.published().count()
    if missing <= 0:
        return 0
    topics = ensure_topics()
    for n in range(missing):
        article = Article.objects.create(
            title=f"Acupuncture for back pain: what to expect ({n + 1})",
            slug=f"bench-base-{n + 1}",
            summary="What a first visit looks like, what the research says, and its limits.",
            body=ARTICLE_BODY.format(n=n, filler=FILLER),
            author_name="Benchmark",
            reviewer_name="Benchmark reviewer",
            reviewed_on=date.today(),
            status=Article.Status.PUBLISHED,
            publish_at=datetime.now(ZoneInfo("UTC")) - timedelta(days=400 + n),
        )
        article.topics.set(topics[: 1 + n % 2])
    return missing


def generate_articles(count, *, seed=9):
    """`count` published articles over the past three years, 1-2 topics and 2 references each."""
    from django.db import transaction

    from articles import markdown
    from articles.models import Article, Reference
    from booking.models import Concern

    rng = random.Random(seed)
    topics = ensure_topics()
    # Rendering is the slow part of saving an article: a few variants, each rendered once.
    variants = []
    for n in range(5):
        body = ARTICLE_BODY.format(n=n, filler=FILLER[: 200 * (n + 1)])
        variants.append((body, markdown.render(body)))
    now = datetime.now(ZoneInfo("UTC"))
    start = Article.objects.filter(slug__startswith=f"{GENERATED_SLUG_PREFIX}article-").count()
    articles = []
    for n in range(start, start + count):
        body, rendered = variants[n % len(variants)]
        articles.append(
            Article(
                title=f"Back pain and acupuncture, part {n + 1}",
                slug=f"{GENERATED_SLUG_PREFIX}article-{n + 1:05d}",
                summary="A generated article with the shape of a real one, for the benchmark.",
                body=body,
                body_html=rendered.body_html,
                toc_html=rendered.toc_html,
                reading_minutes=rendered.reading_minutes,
                concern=rng.choice(Concern.values),
                author_name="Benchmark",
                reviewer_name="Benchmark reviewer",
                reviewed_on=date.today(),
                status=Article.Status.PUBLISHED,
                publish_at=now - timedelta(days=rng.uniform(1, 3 * 365)),
            )
        )
    Through = Article.topics.through
    with transaction.atomic():
        created = Article.objects.bulk_create(articles, batch_size=500)
        links, references = [], []
        for article in created:
            for topic in rng.sample(topics, k=min(len(topics), rng.choice([1, 2]))):
                links.append(Through(article_id=article.pk, topic_id=topic.pk))
            references.extend(
                Reference(
                    article_id=article.pk,
                    position=position,
                    text=f"Author A, Author B. A trial of acupuncture, part {position}. 2020.",
                    url="https://example.com/trial",
                )
                for position in (1, 2)
            )
        Through.objects.bulk_create(links, batch_size=1000)
        Reference.objects.bulk_create(references, batch_size=1000)
    return len(created)


def _local(day, clock, zone):
    return datetime.combine(day, clock, tzinfo=zone)


def plan_appointments(count, practitioners, services, hours, *, today, zone, seed=9):
    """(practitioner, service, start, end, status) for `count` appointments, never overlapping.

    Ahead (FUTURE_DAYS): within each practitioner's working hours, about FUTURE_OCCUPANCY of
    them booked, requested or confirmed. Behind (the rest of HISTORY_DAYS): the remainder,
    packed from 7:00 each day, completed or cancelled. `hours` maps a practitioner's pk to
    a list of (weekday, start_time, end_time).
    """
    rng = random.Random(seed)
    by_duration = sorted(services, key=lambda service: service.duration_minutes)
    # Mostly short visits: two years of a busy five-person clinic is a dense calendar.
    weights = [7, 2.5, 0.5][: len(by_duration)] + [1] * max(0, len(by_duration) - 3)
    grid = timedelta(minutes=15)
    plan = []

    # Ahead: from tomorrow, within working hours.
    for practitioner in practitioners:
        for offset in range(1, FUTURE_DAYS + 1):
            day = today + timedelta(days=offset)
            for weekday, opens, closes in hours.get(practitioner.pk, []):
                if weekday != day.weekday():
                    continue
                cursor, closing = _local(day, opens, zone), _local(day, closes, zone)
                while cursor < closing:
                    service = rng.choices(by_duration, weights)[0]
                    end = cursor + service.duration
                    if end <= closing and rng.random() < FUTURE_OCCUPANCY:
                        status = "confirmed" if rng.random() < 0.7 else "requested"
                        plan.append((practitioner, service, cursor, end, status))
                        cursor = end
                    else:
                        cursor += grid
    future = len(plan)
    if future >= count:
        return plan[:count]

    # Behind: the rest, spread evenly over the days before today.
    history = count - future
    days = HISTORY_DAYS - FUTURE_DAYS
    slots = [
        (practitioner, offset) for offset in range(1, days + 1) for practitioner in practitioners
    ]
    owed = 0
    for index, (practitioner, offset) in enumerate(slots):
        day = today - timedelta(days=offset)
        cursor = _local(day, time(7), zone)
        last_start = _local(day, time(22), zone)
        # Evenly spread: the first n days' share is n/len(slots) of the history, rounded.
        owed += (index + 1) * history // len(slots) - index * history // len(slots)
        while owed and cursor <= last_start:
            service = rng.choices(by_duration, weights)[0]
            end = cursor + service.duration
            status = "completed" if rng.random() < 0.88 else "cancelled"
            plan.append((practitioner, service, cursor, end, status))
            owed -= 1
            cursor = end + grid * rng.choice([0, 0, 0, 0, 1])
    # A full day hands what did not fit to the next one; the last day may still owe a few.
    return plan


def generate_appointments(count, *, seed=9):
    """`count` appointments over two years across the active practitioners (bulk_create)."""
    from django.conf import settings
    from django.db import transaction

    from booking.models import REFERENCE_LENGTH, Appointment, Concern, Service, WorkingHours

    rng = random.Random(seed)
    zone = ZoneInfo(settings.TIME_ZONE)
    practitioners = ensure_practitioners()
    services = list(Service.objects.active())
    hours = {}
    for row in WorkingHours.objects.filter(practitioner__in=practitioners):
        hours.setdefault(row.practitioner_id, []).append(
            (row.weekday, row.start_time, row.end_time)
        )
    today = datetime.now(zone).date()
    plan = plan_appointments(count, practitioners, services, hours, today=today, zone=zone)

    alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
    references = set(Appointment.objects.values_list("reference", flat=True))
    concerns = Concern.values
    now = datetime.now(ZoneInfo("UTC"))
    appointments = []
    for n, (practitioner, service, start, end, status) in enumerate(plan):
        reference = "".join(rng.choices(alphabet, k=REFERENCE_LENGTH))
        while reference in references:
            reference = "".join(rng.choices(alphabet, k=REFERENCE_LENGTH))
        references.add(reference)
        created_at = min(now, start - timedelta(days=rng.uniform(1, 30)))
        appointments.append(
            Appointment(
                reference=reference,
                service=service,
                practitioner=practitioner,
                start=start,
                end=end,
                status=status,
                channel="online" if n % 4 else "staff",
                first_name=rng.choice(FIRST_NAMES),
                last_name=rng.choice(LAST_NAMES),
                email=f"patient{n}@example.com",
                phone=f"+1212555{n % 100:04d}",
                is_new_patient=rng.random() < 0.3,
                concern=rng.choice(concerns),
                message="Pain in my lower back for three weeks." if n % 5 == 0 else "",
                consent_at=created_at,
                consent_version="bench",
                created_at=created_at,
            )
        )
    with transaction.atomic():
        Appointment.objects.bulk_create(appointments, batch_size=2000)
    return len(appointments)


def ensure_patient_request(practitioner):
    """One request, out of the generated calendar's way, whose patient page is measured."""
    from django.conf import settings

    from booking.models import Appointment, Service

    existing = Appointment.objects.filter(email=f"bench-patient@{POSTED_EMAIL_DOMAIN}").first()
    if existing:
        return existing
    zone = ZoneInfo(settings.TIME_ZONE)
    service = Service.objects.active().order_by("duration_minutes").first()
    day = datetime.now(zone).date() + timedelta(days=FUTURE_DAYS + 60)
    start = _local(day, time(10), zone)
    return Appointment.objects.create(
        service=service,
        practitioner=practitioner,
        start=start,
        end=start + service.duration,
        first_name="Robin",
        last_name="Bench",
        email=f"bench-patient@{POSTED_EMAIL_DOMAIN}",
        phone="+12125550199",
        consent_at=datetime.now(ZoneInfo("UTC")),
        consent_version="bench",
    )


def targets():
    """The URLs to measure, the same on every data set built by `setup`."""
    from articles.models import Article, Topic
    from booking.models import Appointment

    published = Article.objects.published()
    base = published.exclude(slug__startswith=f"{GENERATED_SLUG_PREFIX}article-")
    article = base.order_by("slug").first()
    topic = Topic.objects.filter(articles__in=base).order_by("name").first()
    request = Appointment.objects.get(email=f"bench-patient@{POSTED_EMAIL_DOMAIN}")
    return {
        "article": article.get_absolute_url() if article else None,
        "topic": topic.get_absolute_url() if topic else None,
        "request": request.patient_url,
        "counts": {
            "published_articles": published.count(),
            "appointments": Appointment.objects.count(),
        },
    }


def setup(*, articles, appointments, admin_password):
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    # seed_demo reports what it created; the benchmark's own output stays JSON.
    call_command("seed_demo", "--no-admin", verbosity=0, stdout=io.StringIO())
    practitioners = ensure_practitioners()
    ensure_admin(admin_password)
    added_base_articles = ensure_published_articles()
    ensure_patient_request(practitioners[0])
    generated_articles = generate_articles(articles) if articles else 0
    generated_appointments = generate_appointments(appointments) if appointments else 0
    result = targets()
    result.update(
        practitioners=len(practitioners),
        added_base_articles=added_base_articles,
        generated_articles=generated_articles,
        generated_appointments=generated_appointments,
    )
    return result


def settle_statistics():
    """On PostgreSQL, what autovacuum does within minutes of a bulk load, before measuring.

    PostgreSQL plans from table statistics, and counts rows with an index-only scan only
    where the visibility map is set. Right after bulk_create there is neither: it estimated
    the appointments at 14,160 rows of 100,001, and the admin list's count read the whole
    table (16 ms) where an index was enough (4 ms). A running clinic's database has both,
    so the benchmark measures it that way. SQLite keeps such statistics only when asked
    (ANALYZE), and a running site does not ask: nothing to do there.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return True


def posted(*, forget):
    """How many requests the POST benchmark stored; with `forget`, delete them."""
    from booking.models import Appointment

    mine = Appointment.objects.filter(email__startswith=POSTED_EMAIL_PREFIX)
    count = mine.count()
    if forget and count:
        mine.delete()
    return {"posted": count}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("setup", help="migrate, seed, and generate volume")
    make.add_argument("--articles", type=int, default=0)
    make.add_argument("--appointments", type=int, default=0)
    make.add_argument("--out", help="also write the JSON here")
    count = commands.add_parser("posted", help="count the benchmark's bookings")
    count.add_argument("--forget", action="store_true", help="and delete them")
    args = parser.parse_args(argv)
    setup_django()
    if args.command == "setup":
        password = os.environ.get("BENCH_ADMIN_PASSWORD")
        if not password:
            parser.error("BENCH_ADMIN_PASSWORD must be set (the bench superuser's password).")
        result = setup(
            articles=args.articles, appointments=args.appointments, admin_password=password
        )
        # Not in setup(): VACUUM cannot run inside a transaction (as setup's tests do).
        settle_statistics()
        if args.out:
            with open(args.out, "w") as out:
                json.dump(result, out, indent=2)
    else:
        result = posted(forget=args.forget)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
