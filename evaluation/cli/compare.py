"""`rekognition-eval compare RUN_A RUN_B`: two runs on the same images, label by label."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from evaluation.cli.common import EXIT_OK


def add_parser(commands: Any) -> None:
    compare = commands.add_parser(
        "compare",
        help="compare two runs on the same dataset, label by label",
        description=(
            "Compare two run folders on the same images (two backends, or two model versions): per label "
            "AP, recommended MinConfidence, precision, recall and F1 side by side, and what changed. "
            "Writes compare.html, compare.csv and compare.md."
        ),
    )
    compare.add_argument("run_a", metavar="RUN_A", help="the first run folder (the baseline)")
    compare.add_argument("run_b", metavar="RUN_B", help="the second run folder, on the same images")
    compare.add_argument("--out", help="folder to write (default: reports/compare-<RUN_A>-vs-<RUN_B>)")
    compare.add_argument(
        "--thresholds",
        metavar="FILE",
        help="the deployed thresholds.yaml: the paired test judges both runs at these (default: each run's "
        "recommended threshold)",
    )


def cmd_compare(args: argparse.Namespace) -> int:
    from evaluation.reports.compare import write_compare

    deployed = None
    if args.thresholds:
        from evaluation.reports.check import load_deployed

        deployed = load_deployed(args.thresholds)
    out_dir, counts = write_compare(args.run_a, args.run_b, args.out, deployed=deployed)
    print(f"Comparison: {out_dir / 'compare.html'} (and compare.csv, compare.md)")
    print(
        f"{counts['compared']} label(s) in both runs: better in B for {counts['better_in_b']}, "
        f"better in A for {counts['better_in_a']}, no significant change for {counts['same']}; "
        f"recommended MinConfidence raised for {counts['thresholds_raised']}, "
        f"lowered for {counts['thresholds_lowered']}"
    )
    for warning in counts["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK
