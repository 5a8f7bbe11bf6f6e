"""Queue and send appointment reminders; run it from cron, as often as you like."""

from django.core.management.base import BaseCommand

from booking import emails


class Command(BaseCommand):
    help = (
        "Remind each confirmed appointment's patient once, on the day before it at "
        f"{emails.REMINDER_TIME:%H:%M} (clinic time), or earlier if cancelling online closes "
        "before then; not a patient whose confirmation or new time was sent that day. "
        "Running it again, or from two machines, never sends a second reminder."
    )

    def handle(self, *args, **options):
        queued = emails.queue_reminders()
        if queued or options["verbosity"] > 1:
            self.stdout.write(f"Queued {queued} reminder(s).")
