"""Queue and send appointment reminders; run it from cron, as often as you like."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from booking import emails


class Command(BaseCommand):
    help = (
        "Send each confirmed appointment one reminder, when it starts between "
        "--latest and --earliest hours from now (24 and 48 by default). Running it "
        "again, or from two machines, never sends a second reminder."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--earliest",
            type=float,
            default=emails.REMINDER_EARLIEST / timedelta(hours=1),
            metavar="HOURS",
            help="Remind at most this many hours before the appointment (default 48).",
        )
        parser.add_argument(
            "--latest",
            type=float,
            default=emails.REMINDER_LATEST / timedelta(hours=1),
            metavar="HOURS",
            help="Remind at least this many hours before the appointment (default 24).",
        )

    def handle(self, *args, earliest, latest, **options):
        if not 0 <= latest < earliest:
            raise CommandError("--latest must be at least 0 and less than --earliest.")
        queued = emails.queue_reminders(
            earliest=timedelta(hours=earliest), latest=timedelta(hours=latest)
        )
        if queued or options["verbosity"] > 1:
            self.stdout.write(f"Queued {queued} reminder(s).")
