from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipelines.services.retention import (
    PruneError,
    parse_age,
    plan_lines,
    prune_execute,
    prune_plan,
    result_line,
)


class Command(BaseCommand):
    help = (
        "Delete finished runs older than --older-than and/or beyond the newest --keep-last per pipeline "
        "(a run either rule keeps stays), and the artifact versions (rows and store files) nothing else "
        "uses. Runs in progress and runs a model version in staging or production links to are kept. "
        "--retention applies each pipeline's own retention settings instead. --dry-run prints what would go."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", metavar="AGE", help="e.g. 30d, 12h, 2w, 90m")
        parser.add_argument("--keep-last", metavar="N", type=int, help="keep the newest N runs of each pipeline")
        parser.add_argument("--pipeline", metavar="NAME", help="only this pipeline")
        parser.add_argument(
            "--retention", action="store_true", help="use each pipeline's retention_keep_runs/_days settings"
        )
        parser.add_argument("--dry-run", action="store_true", help="print what would be deleted, delete nothing")
        parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            older_than = parse_age(options["older_than"]) if options["older_than"] is not None else None
            plan = prune_plan(
                older_than=older_than,
                keep_last=options["keep_last"],
                pipeline_name=options["pipeline"],
                use_pipeline_settings=options["retention"],
            )
        except PruneError as exc:
            raise CommandError(str(exc)) from None
        lines = plan_lines(plan)
        if options["dry_run"]:
            self.stdout.write("Would delete " + lines[0])
            for line in lines[1:]:
                self.stdout.write("  " + line)
            return
        if not plan.runs and not plan.versions and not plan.leftover_files:
            self.stdout.write("Nothing to prune.")
            return
        if not options["yes"]:
            if not sys.stdin.isatty():
                raise CommandError("Not a terminal: pass --yes to delete without asking, or --dry-run to look first.")
            self.stdout.write("Will delete " + lines[0])
            answer = input("Delete them? Type 'yes': ")
            if answer.strip().lower() != "yes":
                raise CommandError("Nothing deleted.")
        result = prune_execute(plan=plan)
        self.stdout.write(result_line(result))
        for error in result.errors:
            self.stderr.write(error)
