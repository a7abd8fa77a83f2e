# Placeholder in the migration chain; its operations are filled in by the change it names.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0009_tags"),
    ]

    operations = []
