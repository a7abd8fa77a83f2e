# Small artifact versions kept in their row (pipelines/sdk/artifact_saving.py).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0012_retention"),
    ]

    operations = [
        migrations.AddField(
            model_name="artifactversion",
            name="inline_files",
            field=models.JSONField(blank=True, null=True),
        ),
    ]
