"""Delete old finished requests with their emails and history; run it from cron daily."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from booking.models import Appointment, OutgoingEmail, StatusChange

BATCH = 500


class Command(BaseCommand):
    help = (
        "Delete finished requests (declined, cancelled, completed, no-show) whose time and "
        "last change are older than --older-than days, with their emails and history. "
        "Requested and confirmed appointments are never deleted, however old."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            required=True,
            metavar="DAYS",
            help="Delete finished requests older than this many days (at least 1).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Only say how many would be deleted; delete nothing.",
        )

    def handle(self, *args, older_than, dry_run, **options):
        if older_than < 1:
            raise CommandError(f"--older-than must be at least 1 day, not {older_than}.")
        before = timezone.now() - timedelta(days=older_than)
        old = Appointment.objects.purgeable(before)
        if dry_run:
            counts = {
                "requests": old.count(),
                "emails": OutgoingEmail.objects.filter(appointment__in=old.values("pk")).count(),
                "history entries": StatusChange.objects.filter(
                    appointment__in=old.values("pk")
                ).count(),
            }
        else:
            counts = dict.fromkeys(["requests", "emails", "history entries"], 0)
            with transaction.atomic():
                # In batches: SQLite allows only so many parameters in one query.
                while ids := list(old.values_list("pk", flat=True)[:BATCH]):
                    _, deleted = Appointment.objects.filter(pk__in=ids).delete()
                    counts["requests"] += deleted.get("booking.Appointment", 0)
                    counts["emails"] += deleted.get("booking.OutgoingEmail", 0)
                    counts["history entries"] += deleted.get("booking.StatusChange", 0)
        summary = ", ".join(f"{count} {what}" for what, count in counts.items())
        if dry_run:
            self.stdout.write(f"Would delete {summary} (older than {older_than} days).")
        else:
            self.stdout.write(f"Deleted {summary} (older than {older_than} days).")
        # Never deleted while open, so never forgotten either: cron mails this line.
        still_open = Appointment.objects.active().filter(end__lt=before).count()
        if still_open:
            self.stdout.write(
                f"Kept {still_open} past request{'s' if still_open != 1 else ''} older than "
                f"{older_than} days that {'are' if still_open != 1 else 'is'} still open "
                "(requested or confirmed): close each in the admin (Appointments, by date: "
                "Past) as completed, no-show or declined, and a later run deletes it."
            )
