"""`rekognition-eval report` and `thresholds`: a finished run judged again from its stored answers."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from evaluation.cli.common import (
    EXIT_OK,
    OBJECTIVE_HELP,
    add_analysis_options,
    add_uncertainty_options,
    exit_code,
    labels_table,
    print_result,
    read_aws_evaluation,
    uncertainty_keywords,
)


def add_parsers(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="recompute a run from its stored answers (no calls)",
        description=(
            "Recompute metrics, thresholds and the report of a finished run with other analysis options. "
            "Reads the run's images.csv and its response cache; makes no API call."
        ),
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by `run` (has run.json)")
    report.add_argument("--out", help="write here instead of overwriting RUN_DIR")
    report.add_argument("--cache", help="the response cache, if it moved since the run")
    report.add_argument(
        "--curves-csv",
        action="store_true",
        help="write the exact curves as curves.csv too (curves.parquet is always written)",
    )
    report.add_argument(
        "--aws-evaluation",
        metavar="FILE",
        help="a Custom Labels EvaluationSummary JSON (path or s3://) to put beside this run's numbers",
    )
    add_analysis_options(report, defaults=False)

    thresholds = commands.add_parser(
        "thresholds",
        help="recommend thresholds for a run under an objective",
        description="Write thresholds.yaml for a finished run under another objective (no calls).",
    )
    thresholds.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by `run` (has run.json)")
    thresholds.add_argument("--objective", default="best-f1", help=OBJECTIVE_HELP)
    thresholds.add_argument(
        "--min-support", type=int, help="labels with fewer positives are flagged (default: the run's)"
    )
    thresholds.add_argument(
        "--out",
        help="YAML file to write; - for stdout (default: RUN_DIR/thresholds-<objective>.yaml, beside the "
        "run's own thresholds.yaml, which keeps agreeing with its report; `report --objective` redoes both)",
    )
    thresholds.add_argument("--cache", help="the response cache, if it moved since the run")
    add_uncertainty_options(thresholds, defaults=False)


def cmd_report(args: argparse.Namespace) -> int:
    from evaluation.pipeline import reanalyse

    out_dir = Path(args.out) if args.out else Path(args.run_dir)
    result = reanalyse(  # and writes the folder: its PNGs' process starts before the analysis
        args.run_dir,
        out=out_dir,
        curves_csv=args.curves_csv,
        cache=args.cache,
        aws_evaluation=read_aws_evaluation(args.aws_evaluation, None),
        objective=args.objective,
        min_support=args.min_support,
        use_parents=args.use_parents,
        label_map=args.label_map,
        vocabulary=args.labels,
        slices=args.slices,
        quality_bins=args.quality_bins,
        absolute_paths=args.absolute_paths,
        segment_tolerance_ms=args.segment_tolerance_ms,
        **uncertainty_keywords(args),
    )
    print_result(result, out_dir, recomputed=True)
    return exit_code(result)


def cmd_thresholds(args: argparse.Namespace) -> int:
    import yaml

    from evaluation.pipeline import reanalyse

    result = reanalyse(
        args.run_dir,
        cache=args.cache,
        objective=args.objective,
        min_support=args.min_support,
        **uncertainty_keywords(args),
    )
    text = yaml.safe_dump(result.thresholds, sort_keys=False, allow_unicode=True)
    if args.out == "-":
        sys.stdout.write(text)
        return EXIT_OK
    if args.out:
        target = Path(args.out)
    else:  # beside the run's own thresholds.yaml, which must keep agreeing with its report
        slug = re.sub(r"[^A-Za-z0-9.]+", "-", result.summary["objective"]).strip("-")
        target = Path(args.run_dir) / f"thresholds-{slug}.yaml"
    target.write_text(text, encoding="utf-8")
    print(f"Thresholds ({result.summary['objective']}): {target}")
    from evaluation.runfolder import write_review_band

    for path in write_review_band(result, target.parent):
        print(f"Review band: {path}")
    print(labels_table(result.labels))
    return EXIT_OK
