"""Staff groups, the permissions the admin checks, and the index of the front desk's queue.

Front desk: runs the day (appointments: view, add, change, export; no delete).
Practitioner: views appointments; one linked to their staff account sees only their own.
Content editor: the articles, nothing of the patients'.

Permissions are normally created after all migrations (post_migrate); they are created
here first so that the groups can be given them on a fresh database.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

GROUPS = {
    "Front desk": {
        "booking.appointment": ["view", "add", "change", "view_all", "export"],
        "booking.statuschange": ["view"],
        "booking.service": ["view"],
        "booking.practitioner": ["view"],
        "booking.workinghours": ["view"],
        "booking.timeoff": ["view"],
        "booking.clinicclosure": ["view"],
    },
    "Practitioner": {
        "booking.appointment": ["view"],
        "booking.statuschange": ["view"],
    },
    "Content editor": {
        "articles.article": ["view", "add", "change", "delete"],
        "articles.topic": ["view", "add", "change", "delete"],
        "articles.reference": ["view", "add", "change", "delete"],
    },
}
# Custom permissions of the appointment model (see its Meta.permissions).
CODENAMES = {"view_all": "view_all_appointments", "export": "export_appointments"}


def create_staff_groups(apps, schema_editor):
    for label in ("booking", "articles"):
        create_permissions(global_apps.get_app_config(label), apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, grants in GROUPS.items():
        permissions = []
        for model, actions in grants.items():
            app_label, model_name = model.split(".")
            for action in actions:
                codename = CODENAMES.get(action, f"{action}_{model_name}")
                permissions.append(
                    Permission.objects.get(
                        content_type__app_label=app_label,
                        content_type__model=model_name,
                        codename=codename,
                    )
                )
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions)


def remove_staff_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("booking", "0003_appointment_submission_key"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="appointment",
            options={
                "ordering": ["-created_at"],
                "permissions": [
                    ("view_all_appointments", "Can see every practitioner's appointments"),
                    ("export_appointments", "Can export appointments to CSV"),
                ],
            },
        ),
        migrations.AddIndex(
            model_name="appointment",
            index=models.Index(
                models.Case(
                    models.When(status="requested", then=models.Value(0)),
                    default=models.Value(1),
                ),
                models.OrderBy(models.F("created_at"), descending=True),
                name="booking_appt_queue",
            ),
        ),
        migrations.RunPython(create_staff_groups, remove_staff_groups),
    ]
