# /metrics at a large history: running totals of finished steps and attempts, folded in
# by when they ended (pipelines.services.metrics), and the indexes that make a scrape
# read a few rows instead of the steps table.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("pipelines", "0015_artifact_file_identities")]

    operations = [
        migrations.CreateModel(
            name="MetricsFold",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("folded_until", models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name="StepAttemptTotal",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("running", "Running"),
                            ("completed", "Completed"),
                            ("failed", "Failed"),
                            ("crashed", "Crashed"),
                            ("stopped", "Stopped"),
                        ],
                        max_length=20,
                    ),
                ),
                ("retry", models.BooleanField()),
                ("count", models.BigIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("outcome", "retry"), name="step_attempt_total_unique"),
                ],
            },
        ),
        migrations.CreateModel(
            name="StepRunTotal",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "pipeline",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="pipelines.pipeline"
                    ),
                ),
                ("queue", models.CharField(max_length=200)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("retrying", "Retrying"),
                            ("completed", "Completed"),
                            ("cached", "Cached"),
                            ("failed", "Failed"),
                            ("skipped", "Skipped"),
                            ("stopped", "Stopped"),
                        ],
                        max_length=20,
                    ),
                ),
                ("duration_bucket", models.SmallIntegerField()),
                ("wait_bucket", models.SmallIntegerField()),
                ("count", models.BigIntegerField(default=0)),
                ("duration_sum", models.FloatField(default=0.0)),
                ("wait_sum", models.FloatField(default=0.0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("pipeline", "queue", "status", "duration_bucket", "wait_bucket"),
                        name="step_run_total_unique",
                    ),
                ],
            },
        ),
        migrations.AddIndex(
            model_name="pipelinerun",
            index=models.Index(fields=["pipeline", "status"], name="run_pipeline_status_idx"),
        ),
        migrations.AddIndex(
            model_name="artifactversion",
            index=models.Index(fields=["status", "size"], name="artifact_version_size_idx"),
        ),
        migrations.AddIndex(
            model_name="stepattempt",
            index=models.Index(fields=["finished_at"], name="step_attempt_finished_idx"),
        ),
        migrations.AddIndex(
            model_name="steprun",
            index=models.Index(
                condition=models.Q(("status__in", ("completed", "cached", "failed", "skipped", "stopped"))),
                fields=["finished_at"],
                name="step_run_finished_idx",
            ),
        ),
    ]
