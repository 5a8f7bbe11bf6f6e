"""Fill an empty site with a fictional demo clinic. Running it twice changes nothing."""

import secrets
from datetime import date, time, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from booking.models import Clinic, ClinicClosure, Practitioner, Service, WorkingHours

STARTER_ARTICLES = Path(settings.BASE_DIR) / "articles" / "starter"

CLINIC = {
    "name": "Willow Lane Acupuncture (demo)",
    "tagline": "A fictional demo clinic: gentle, evidence-informed acupuncture for back pain.",
    "street_address": "100 Example Street, Suite 0",
    "locality": "Demoville",
    "region": "NY",
    "postal_code": "00000",
    "country": "US",
    # 555-0100 to 555-0199 is reserved for fiction.
    "phone": "(212) 555-0142",
    "email": "hello@example.com",
    "opening_hours_text": (
        "Monday to Friday: 9:00 am – 5:00 pm\nSaturday: 9:00 am – 1:00 pm\nSunday: closed"
    ),
}

SERVICES = [
    {
        "slug": "initial-consultation",
        "name": "Initial consultation and treatment",
        "duration_minutes": 75,
        "price": "120.00",
        "position": 1,
        "description": "For new patients: we talk through your back pain and health history, "
        "examine you, and give a first treatment.",
    },
    {
        "slug": "follow-up",
        "name": "Follow-up treatment",
        "duration_minutes": 45,
        "price": "85.00",
        "position": 2,
        "description": "For returning patients continuing a course of treatment.",
    },
    {
        "slug": "phone-chat",
        "name": "Free 15-minute phone chat",
        "duration_minutes": 15,
        "price": None,
        "by_phone": True,
        "position": 3,
        "description": "Not sure acupuncture is for you? Ask us your questions first, at no cost.",
    },
]

PRACTITIONERS = [
    {
        "slug": "maya-chen",
        "name": "Maya Chen, L.Ac.",
        "position": 1,
        "bio": "Licensed acupuncturist with a special interest in long-standing low back pain.",
    },
    {
        "slug": "samuel-okafor",
        "name": "Samuel Okafor, L.Ac.",
        "position": 2,
        "bio": "Licensed acupuncturist who works with sports and work injuries.",
    },
]

# Monday to Friday 9:00-17:00, Saturday 9:00-13:00.
WEEKLY_HOURS = [(day, time(9), time(17)) for day in range(5)] + [(5, time(9), time(13))]


def us_holidays(year):
    """A few US public holidays on which the demo clinic closes."""

    def nth_weekday(month, weekday, n):
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))

    def last_weekday(month, weekday):
        following = date(year + (month == 12), month % 12 + 1, 1)
        last = following - timedelta(days=1)
        return last - timedelta(days=(last.weekday() - weekday) % 7)

    return [
        (date(year, 1, 1), "New Year's Day"),
        (last_weekday(5, 0), "Memorial Day"),
        (date(year, 7, 4), "Independence Day"),
        (nth_weekday(9, 0, 1), "Labor Day"),
        (nth_weekday(11, 3, 4), "Thanksgiving"),
        (date(year, 12, 25), "Christmas Day"),
    ]


def next_public_holiday(today):
    candidates = us_holidays(today.year) + us_holidays(today.year + 1)
    return min((day, name) for day, name in candidates if day >= today)


class Command(BaseCommand):
    help = "Create the fictional demo clinic, its services, practitioners, hours and articles."

    def add_arguments(self, parser):
        parser.add_argument(
            "--no-admin",
            action="store_true",
            help="Do not create the demo staff account when there is none.",
        )

    def handle(self, *args, **options):
        with transaction.atomic():
            self.seed_booking()
        if STARTER_ARTICLES.is_dir():
            paths = sorted(str(path) for path in STARTER_ARTICLES.glob("*.md"))
            if paths:
                call_command("import_articles", *paths, stdout=self.stdout, stderr=self.stderr)
        if not options["no_admin"]:
            self.ensure_staff_account()

    def seed_booking(self):
        if not Clinic.objects.exists():
            Clinic(**CLINIC).save()
            self.stdout.write("Created the demo clinic.")
        for data in SERVICES:
            _, created = Service.objects.get_or_create(slug=data["slug"], defaults=data)
            if created:
                self.stdout.write(f"Created service {data['name']}.")
        for data in PRACTITIONERS:
            practitioner, created = Practitioner.objects.get_or_create(
                slug=data["slug"], defaults=data
            )
            if created:
                WorkingHours.objects.bulk_create(
                    WorkingHours(
                        practitioner=practitioner, weekday=day, start_time=start, end_time=end
                    )
                    for day, start, end in WEEKLY_HOURS
                )
                self.stdout.write(f"Created practitioner {data['name']} with working hours.")
        day, name = next_public_holiday(timezone.localdate())
        _, created = ClinicClosure.objects.get_or_create(
            start_date=day, end_date=day, defaults={"reason": name}
        )
        if created:
            self.stdout.write(f"Created a closure on {day:%Y-%m-%d} ({name}).")

    def ensure_staff_account(self):
        User = get_user_model()
        if User.objects.filter(is_staff=True).exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser("admin", "admin@example.com", password)
        self.stdout.write(
            self.style.WARNING(
                "\nCreated a staff account for the admin (shown only this once):\n"
                f"    user name: admin\n    password:  {password}\n"
                "Sign in at /admin/ and change the password.\n"
            )
        )
