# Stored pipeline versions (runs started without the code), what started each run, and
# the requests that a worker compiles for pipelines whose DAG depends on their parameters.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0009_tags"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="pipelinerun",
            name="rerun_of",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="reruns",
                to="pipelines.pipelinerun",
            ),
        ),
        migrations.AddField(
            model_name="pipelinerun",
            name="trigger",
            field=models.CharField(
                choices=[
                    ("code", "its code"),
                    ("api", "a trigger (API, Client or dashboard)"),
                    ("rerun", "a re-run"),
                    ("schedule", "a schedule"),
                ],
                default="code",
                max_length=20,
            ),
        ),
        migrations.CreateModel(
            name="PipelineVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.PositiveIntegerField()),
                ("spec_hash", models.CharField(max_length=64)),
                ("spec", models.JSONField()),
                ("parameter_schema", models.JSONField(default=list)),
                ("dag", models.CharField(choices=[("static", "Static"), ("dynamic", "Dynamic")], max_length=10)),
                ("pipeline_source", models.CharField(blank=True, max_length=500)),
                ("source_root", models.CharField(blank=True, max_length=1000)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "pipeline",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="versions", to="pipelines.pipeline"
                    ),
                ),
            ],
            options={
                "ordering": ["pipeline", "-number"],
            },
        ),
        migrations.AddField(
            model_name="pipelinerun",
            name="pipeline_version",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="runs",
                to="pipelines.pipelineversion",
            ),
        ),
        migrations.CreateModel(
            name="RunRequest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("parameters", models.JSONField(default=dict)),
                ("enable_cache", models.BooleanField(null=True)),
                ("run_name", models.CharField(blank=True, max_length=255)),
                (
                    "trigger",
                    models.CharField(
                        choices=[
                            ("code", "its code"),
                            ("api", "a trigger (API, Client or dashboard)"),
                            ("rerun", "a re-run"),
                            ("schedule", "a schedule"),
                        ],
                        max_length=20,
                    ),
                ),
                ("schedule_id", models.PositiveBigIntegerField(blank=True, null=True)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("compiling", "Compiling"),
                            ("started", "Started"),
                            ("failed", "Failed"),
                        ],
                        default="pending",
                        max_length=20,
                    ),
                ),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "pipeline_version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="requests",
                        to="pipelines.pipelineversion",
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "rerun_of",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="pipelines.pipelinerun",
                    ),
                ),
                (
                    "run",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="request",
                        to="pipelines.pipelinerun",
                    ),
                ),
            ],
            options={
                "ordering": ["-id"],
            },
        ),
        migrations.AddConstraint(
            model_name="pipelineversion",
            constraint=models.UniqueConstraint(fields=("pipeline", "number"), name="pipeline_version_unique_number"),
        ),
        migrations.AddConstraint(
            model_name="pipelineversion",
            constraint=models.UniqueConstraint(fields=("pipeline", "spec_hash"), name="pipeline_version_unique_spec"),
        ),
    ]
