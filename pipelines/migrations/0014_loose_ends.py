# Worker concurrency on the workers page, counters for the reaper's actions in /metrics,
# tags on pipelines.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0013_inline_artifact_values"),
    ]

    operations = [
        migrations.AddField(
            model_name="workerheartbeat",
            name="concurrency",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="pipeline",
            name="tags",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.CreateModel(
            name="EventCounter",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100, unique=True)),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
    ]
