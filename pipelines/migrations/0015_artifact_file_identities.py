# What a version's writer established of its files, so that loads elsewhere need not
# hash them again (pipelines/sdk/stores/base.py, "Identities carried with a version").

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0014_loose_ends"),
    ]

    operations = [
        migrations.AddField(
            model_name="artifactversion",
            name="file_identities",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
