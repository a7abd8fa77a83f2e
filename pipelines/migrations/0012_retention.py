# Retention: per-pipeline keep settings, tombstones of pruned artifact versions, and
# the lease a backup holds so that prune deletes no files while it runs.

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0011_schedules"),
    ]

    operations = [
        migrations.AddField(
            model_name="pipeline",
            name="retention_keep_days",
            field=models.PositiveIntegerField(
                blank=True, null=True, validators=[django.core.validators.MinValueValidator(1)]
            ),
        ),
        migrations.AddField(
            model_name="pipeline",
            name="retention_keep_runs",
            field=models.PositiveIntegerField(
                blank=True, null=True, validators=[django.core.validators.MinValueValidator(1)]
            ),
        ),
        migrations.CreateModel(
            name="BackupLease",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("holder", models.CharField(max_length=255)),
                ("started_at", models.DateTimeField()),
                ("expires_at", models.DateTimeField(db_index=True)),
            ],
        ),
        migrations.CreateModel(
            name="PrunedArtifactVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version_id", models.PositiveBigIntegerField(unique=True)),
                ("artifact_name", models.CharField(max_length=200)),
                ("version", models.CharField(blank=True, max_length=100)),
                ("uri", models.CharField(max_length=1000)),
                ("size", models.PositiveBigIntegerField(default=0)),
                ("pruned_at", models.DateTimeField()),
                ("files_deleted_at", models.DateTimeField(blank=True, null=True)),
            ],
            options={
                "ordering": ["-id"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("files_deleted_at__isnull", True)),
                        fields=["id"],
                        name="pruned_files_pending_idx",
                    )
                ],
            },
        ),
    ]
