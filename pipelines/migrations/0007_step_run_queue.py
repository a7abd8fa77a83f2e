from django.db import migrations, models
from django.db.models import OuterRef, Subquery

import pipelines.models


def queue_of_the_run(apps, schema_editor):
    # Steps created before steps had queues of their own went to their run's queue,
    # and so must their retries and re-sends.
    StepRun = apps.get_model("pipelines", "StepRun")
    PipelineRun = apps.get_model("pipelines", "PipelineRun")
    StepRun.objects.update(
        queue=Subquery(PipelineRun.objects.filter(id=OuterRef("pipeline_run_id")).values("queue")[:1])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0006_artifact_version_created_by"),
    ]

    operations = [
        migrations.AddField(
            model_name="steprun",
            name="queue",
            field=models.CharField(default=pipelines.models.default_step_queue, max_length=200),
        ),
        migrations.RunPython(queue_of_the_run, migrations.RunPython.noop),
    ]
