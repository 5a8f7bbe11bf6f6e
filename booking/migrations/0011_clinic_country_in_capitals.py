"""The clinic's country in capitals, as the phone library reads it ("us" was once saved,
and with it every local phone number was refused online)."""

from django.db import migrations
from django.db.models.functions import Trim, Upper


def country_in_capitals(apps, schema_editor):
    Clinic = apps.get_model("booking", "Clinic")
    Clinic.objects.update(country=Upper(Trim("country")))


class Migration(migrations.Migration):
    dependencies = [
        ("booking", "0010_outgoingemail_closed"),
    ]

    operations = [
        migrations.RunPython(country_in_capitals, migrations.RunPython.noop),
    ]
