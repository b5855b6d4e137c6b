"""`rekognition-eval check RUN_DIR --thresholds deployed.yaml`: a gate for a model update.

Exit 0 when every target of the deployed thresholds still holds on the run, 4 (EXIT_TARGET_BROKEN) when
any is broken, naming the labels; see evaluation.reports.check for what a target is.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from evaluation.cli.common import EXIT_OK, EXIT_TARGET_BROKEN


def add_parser(commands: Any) -> None:
    check = commands.add_parser(
        "check",
        help="gate: do the deployed thresholds still meet their targets on this run? (exit 4 if not)",
        description=(
            "Evaluate a run at the deployed thresholds (a thresholds.yaml: each label's min_confidence, not "
            "re-optimised) and say per label whether its target still holds (the file's objective, e.g. "
            "precision >= 0.9, or a label's own `targets`), with the Wilson interval. Exit 0 when all hold, "
            "4 when any is broken."
        ),
    )
    check.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (e.g. of the new model version)")
    check.add_argument("--thresholds", required=True, metavar="FILE", help="the deployed thresholds.yaml")
    check.add_argument("--out", metavar="FILE", help="also write the table as CSV")


def cmd_check(args: argparse.Namespace) -> int:
    from evaluation.reports.check import check_run, check_text, load_deployed

    table = check_run(args.run_dir, load_deployed(args.thresholds))
    print(check_text(table))
    if args.out:
        Path(args.out).write_text(table.to_csv(index=False), encoding="utf-8")
    return EXIT_OK if bool(table["holds"].all()) else EXIT_TARGET_BROKEN
