# Schedules (pipelines.Schedule), the occurrences they fired (ScheduleFiring, unique per
# schedule and due time) and the schedule that started a run.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0010_pipeline_versions_and_triggers"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Schedule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200, unique=True)),
                ("spec", models.JSONField()),
                ("parameters", models.JSONField(blank=True, default=dict)),
                ("enable_cache", models.BooleanField(blank=True, null=True)),
                ("cron_expression", models.CharField(blank=True, max_length=200)),
                ("timezone", models.CharField(default="UTC", max_length=64)),
                ("interval_seconds", models.PositiveIntegerField(blank=True, null=True)),
                ("start_time", models.DateTimeField(blank=True, null=True)),
                ("end_time", models.DateTimeField(blank=True, null=True)),
                ("run_once_start_time", models.DateTimeField(blank=True, null=True)),
                ("catchup", models.BooleanField(default=False)),
                ("paused", models.BooleanField(default=False)),
                ("handled_until", models.DateTimeField(blank=True, null=True)),
                ("last_fired_due_at", models.DateTimeField(blank=True, null=True)),
                ("next_due_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
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
                        on_delete=django.db.models.deletion.CASCADE, related_name="schedules", to="pipelines.pipeline"
                    ),
                ),
                (
                    "pipeline_version",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="schedules",
                        to="pipelines.pipelineversion",
                    ),
                ),
            ],
            options={
                "ordering": ["name"],
            },
        ),
        migrations.AddField(
            model_name="pipelinerun",
            name="schedule",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="runs",
                to="pipelines.schedule",
            ),
        ),
        migrations.CreateModel(
            name="ScheduleFiring",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("due_at", models.DateTimeField()),
                ("error", models.TextField(blank=True)),
                ("fired_at", models.DateTimeField(auto_now_add=True)),
                (
                    "run",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="pipelines.pipelinerun",
                    ),
                ),
                (
                    "schedule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="firings", to="pipelines.schedule"
                    ),
                ),
            ],
            options={
                "ordering": ["-due_at"],
            },
        ),
        migrations.AddIndex(
            model_name="schedule",
            index=models.Index(condition=models.Q(("paused", False)), fields=["next_due_at"], name="schedule_due_idx"),
        ),
        migrations.AddConstraint(
            model_name="schedule",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("cron_expression__gt", ""),
                        ("interval_seconds__isnull", True),
                        ("run_once_start_time__isnull", True),
                    ),
                    models.Q(
                        ("cron_expression", ""),
                        ("interval_seconds__isnull", False),
                        ("run_once_start_time__isnull", True),
                    ),
                    models.Q(
                        ("cron_expression", ""),
                        ("interval_seconds__isnull", True),
                        ("run_once_start_time__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="schedule_one_kind",
            ),
        ),
        migrations.AddConstraint(
            model_name="schedule",
            constraint=models.CheckConstraint(
                condition=models.Q(("interval_seconds__isnull", True), ("interval_seconds__gte", 1), _connector="OR"),
                name="schedule_interval_positive",
            ),
        ),
        migrations.AddConstraint(
            model_name="schedule",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("start_time__isnull", True),
                    ("end_time__isnull", True),
                    ("end_time__gt", models.F("start_time")),
                    _connector="OR",
                ),
                name="schedule_ends_after_start",
            ),
        ),
        migrations.AddConstraint(
            model_name="schedulefiring",
            constraint=models.UniqueConstraint(fields=("schedule", "due_at"), name="schedule_firing_unique_due"),
        ),
    ]
