"""Send the emails waiting in the outbox; run it from cron every minute or few."""

from django.core.management.base import BaseCommand, CommandError

from booking import emails


class Command(BaseCommand):
    help = (
        "Send the outbox's due emails, each at most once even if two copies run at the "
        "same time. Failed sends are retried later with growing delays, then given up."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--limit",
            type=int,
            default=200,
            help="Send at most this many emails in one run (default 200).",
        )
        parser.add_argument(
            "--max-attempts",
            type=int,
            default=emails.MAX_ATTEMPTS,
            help=f"Give an email up after this many attempts (default {emails.MAX_ATTEMPTS}).",
        )

    def handle(self, *args, limit, max_attempts, **options):
        if limit < 1 or max_attempts < 1:
            raise CommandError("--limit and --max-attempts must be at least 1.")
        counts = emails.send_due(limit=limit, max_attempts=max_attempts)
        if any(counts.values()) or options["verbosity"] > 1:
            self.stdout.write(
                f"Sent {counts['sent']}, will retry {counts['retrying']}, "
                f"gave up on {counts['failed']}."
            )
        emails.settle_outgrown_stuck()
        stuck = emails.stuck().count()
        if stuck:
            # On stderr, so that cron mails it to the operator.
            self.stderr.write(
                f"{stuck} email(s) were interrupted while being sent and may or may not have "
                "gone out. They are not sent again automatically: check them in the admin "
                "(Outgoing emails, filter “Needs attention”) and send them again, or close "
                "them if they are not needed."
            )
