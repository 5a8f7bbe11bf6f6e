"""On PostgreSQL, the database itself refuses two overlapping active appointments
of one practitioner, whatever the application does (an exclusion constraint).

SQLite has no such constraint; there the booking code's IMMEDIATE transaction
serialises writers, and the overlap check inside it holds the rule.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE booking_appointment
    ADD CONSTRAINT booking_appointment_no_overlap
    EXCLUDE USING gist (
        practitioner_id WITH =,
        tstzrange("start", "end", '[)') WITH &&
    )
    WHERE (status IN ('requested', 'confirmed'));
"""

DROP = "ALTER TABLE booking_appointment DROP CONSTRAINT IF EXISTS booking_appointment_no_overlap;"


def add_constraint(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_constraint(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("booking", "0001_initial")]

    operations = [migrations.RunPython(add_constraint, drop_constraint, elidable=False)]
