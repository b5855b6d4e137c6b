"""What every sub-command shares: exit codes, the parser's error rule, analysis options, the stack
behind --stack-outputs, and how a finished result is printed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from evaluation.errors import UserError

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_TARGET_BROKEN = 4  # reserved for `check`: a deployed threshold's target no longer holds


OBJECTIVE_HELP = (
    "what the recommended threshold optimises: best-f1 (default), recall-at-precision:P "
    "(highest recall with precision >= P) or precision-at-recall:R (highest precision with recall >= R); "
    "P and R between 0 and 1 (0.9 or 90%%; precision>=P and recall>=R are shorthands); min-cost (the "
    "least expected cost per 1,000 images, with --cost-fp and --cost-fn or --costs)"
)
# the options every analysing sub-command shares beyond the objective: name on the command line -> keyword
UNCERTAINTY_KEYWORDS = (
    "confidence_level",
    "resamples",
    "seed",
    "exact_bootstrap",
    "half_width",
    "certain",
    "cost_fp",
    "cost_fn",
    "costs",
    "cost_per_call",
    "cost_per_review",
    "review_band",
    "max_errors",
    "max_review_rate",
)


def add_uncertainty_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Intervals, data advice, costs and the review band (README: "How sure is a recommendation")."""
    keep = "" if defaults else "; default: the run's"
    sure = parser.add_argument_group("how sure (intervals and data advice)")
    sure.add_argument(
        "--confidence-level",
        type=float,
        metavar="LEVEL",
        help=f"level of every interval and of --certain, in [0.5, 1) (default 0.95{keep})",
    )
    sure.add_argument(
        "--resamples",
        type=int,
        metavar="N",
        help=f"bootstrap resamples for the F1 and MinConfidence intervals, 0 for none (default 1000{keep})",
    )
    sure.add_argument("--seed", type=int, help=f"the bootstrap's seed (default 0{keep})")
    sure.add_argument(
        "--exact-bootstrap",
        action="store_const",
        const=True,
        default=None,
        help="always the exact bootstrap over every image; by default a large run (resamples x scored pairs "
        "above 2e8) uses the bag of little bootstraps, which the intervals' description names",
    )
    sure.add_argument(
        "--half-width",
        type=float,
        metavar="H",
        help="the data advice plans the images needed for precision and recall intervals within +-H "
        f"(default 0.05{keep})",
    )
    sure.add_argument(
        "--certain",
        action="store_const",
        const=True,
        default=None,
        help="recall-at-precision:P / precision-at-recall:R must hold at the interval's lower bound, not at "
        "the point estimate (a label that cannot is 'uncertified', with the positives needed)",
    )
    costs = parser.add_argument_group("costs (for --objective min-cost, and reported beside any objective)")
    costs.add_argument("--cost-fp", type=float, metavar="COST", help="cost of one false positive")
    costs.add_argument("--cost-fn", type=float, metavar="COST", help="cost of one false negative (a miss)")
    costs.add_argument(
        "--costs",
        metavar="FILE.yaml",
        help="costs per label: 'Cat: {fp: 1, fn: 5, review: 0.2}', '\"*\"' for every other label",
    )
    costs.add_argument(
        "--cost-per-call",
        metavar="COST|price-table",
        help="what one call costs (added once per image to the application's cost); 'price-table': the "
        "list price of the run's API in its region from prices.yaml (first volume tier)",
    )
    costs.add_argument(
        "--cost-per-review", type=float, metavar="COST", help="what a person checking one prediction costs"
    )
    band = parser.add_argument_group("human review band")
    band.add_argument(
        "--review-band",
        action="store_const",
        const=True,
        default=None,
        help="choose two MinConfidences per label: accept at or above the upper, a person checks between, "
        "reject below; writes review_band.csv and a2i_activation_conditions.json (moderation) or "
        "review_band.yaml",
    )
    band.add_argument(
        "--max-errors",
        metavar="RATE",
        help="errors left after review per image evaluated, e.g. 0.01 or 1%% (default 0.01)",
    )
    band.add_argument(
        "--max-review-rate",
        metavar="RATE",
        help="predictions sent to a person per image evaluated, e.g. 0.1 or 10%% (default: no limit)",
    )


def uncertainty_keywords(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name, None) for name in UNCERTAINTY_KEYWORDS}


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message}")


def labels_arg(text: str) -> list[str]:
    """A comma-separated list, or @FILE with one label per line."""
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise UserError(f"--labels: cannot read {path}: {exc.strerror or exc}") from None
        labels = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    else:
        labels = [part.strip() for part in text.split(",") if part.strip()]
    if not labels:
        raise UserError("--labels: no label given")
    return labels


def add_analysis_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    group = parser.add_argument_group(
        "analysis (change freely later with `report`)" if defaults else "analysis (default: the run's own)"
    )
    group.add_argument("--objective", default="best-f1" if defaults else None, help=OBJECTIVE_HELP)
    group.add_argument(
        "--min-support",
        type=int,
        default=10 if defaults else None,
        help="labels with fewer positive images are flagged low-support (default 10)",
    )
    group.add_argument(
        "--label-map", help="YAML file: dataset label -> [Rekognition names that count as a hit]"
    )
    group.add_argument(
        "--labels",
        type=labels_arg,
        help="the labels to evaluate: A,B,C or @FILE (default: every label in the dataset)",
    )
    group.add_argument(
        "--segment-tolerance-ms",
        type=float,
        metavar="MS",
        help="videos with segment ground truth: time within MS of a segment's edge is not judged "
        "(default 500)",
    )
    parents = group.add_mutually_exclusive_group()
    parents.add_argument(
        "--no-parents",
        dest="use_parents",
        action="store_false",
        default=True if defaults else None,
        help="do not count a label's Parents and Aliases as predicted",
    )
    parents.add_argument("--parents", dest="use_parents", action="store_true", help=argparse.SUPPRESS)
    group.add_argument(
        "--slice",
        dest="slices",
        action="append",
        metavar="KEY",
        help="split the numbers by KEY (repeatable): a dataset column (CSV extra column, manifest attribute, "
        "COCO image field), brightness/sharpness/contrast (binned; needs IMAGE_PROPERTIES), dominant_color, "
        "content_type (moderation) or category (label categories); writes slices.csv",
    )
    group.add_argument(
        "--quality-bins",
        metavar="EDGES",
        help="bin edges for the quality slices, e.g. 0,40,70,100 (default 0,25,50,75,100)",
    )
    group.add_argument(
        "--absolute-paths",
        action="store_true",
        default=False if defaults else None,
        help="show absolute local paths in summary.json and the reports (default: relative to the dataset)",
    )
    add_uncertainty_options(parser, defaults=defaults)


def fmt(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


def print_result(result, out_dir: Path, *, recomputed: bool = False) -> None:  # type: ignore[no-untyped-def]
    from evaluation.reports.recommended import confidence_text

    summary = result.summary
    images = summary["images"]
    print(f"Report: {out_dir / 'report.md'}")
    print(f"Page: {out_dir / 'report.html'}")
    calls = (
        f"no calls made now (recomputed from stored answers; the run made {summary['api_calls']})"
        if recomputed
        else f"API calls: {summary['api_calls']}; cache hits: {summary['cache_hits']}"
    )
    print(f"Images: {images['evaluated']} evaluated of {images['total']}; {calls}")
    if images["not_evaluated"] or summary["dataset"]["bad_lines"]:
        print(
            f"warning: {images['not_evaluated']} image(s) not evaluated and "
            f"{len(summary['dataset']['bad_lines'])} dataset line(s) skipped: see 'Problems' in the report",
            file=sys.stderr,
        )
    floor = summary.get("floor") or {}
    if floor.get("answers_truncated_at_max_labels"):
        print(
            f"warning: {floor['answers_truncated_at_max_labels']} answer(s) hit MaxLabels, so nothing below "
            f"confidence {confidence_text(floor['evaluated_from'])} is evaluated; "
            "raise --max-labels (at most 1000)",
            file=sys.stderr,
        )
    never = result.never_returned
    for label, count in never[never > 0].items():
        support = int(result.labels.loc[label, "support"])
        print(
            f"warning: {label}: {count} of {support} positives never returned at any confidence; no "
            f"MinConfidence finds them (recall at most {(support - count) / support:.3f})",
            file=sys.stderr,
        )
    from evaluation.stats.thresholds import min_confidence_to_use

    best = result.global_threshold
    use = min_confidence_to_use(best.get("threshold"), best.get("threshold_low"))
    if use is not None:
        print(
            f"One MinConfidence for all labels ({summary['objective']}): {confidence_text(use)} "
            f"(precision {fmt(best.get('precision'))}, recall {fmt(best.get('recall'))})"
        )
    print("Per label (MinConfidence: the value to send, as in thresholds.yaml):")
    print(labels_table(result.labels))


def labels_table(labels: Any) -> str:
    from evaluation.reports.recommended import confidence_text
    from evaluation.stats.thresholds import min_confidence_to_use

    table = labels[["label", "support", "precision", "recall", "f1", "status"]].copy()
    uses = [
        min_confidence_to_use(t, low)
        for t, low in zip(labels["threshold"], labels["threshold_low"], strict=True)
    ]
    table.insert(2, "min_confidence", ["-" if use is None else confidence_text(use) for use in uses])
    return table.to_string(index=False, float_format=lambda value: f"{value:.3f}", na_rep="-")


def exit_code(result) -> int:  # type: ignore[no-untyped-def]
    return EXIT_OK if result.complete else EXIT_INCOMPLETE


def stack(
    args: argparse.Namespace, region: str | None = None, *, own_session: bool = False
) -> tuple[Any, Any]:
    """(stack outputs, boto3 session) from --stack-outputs: the stack's role (unless --no-assume-role)
    in `region`, else the command's --region, else the stack's. Without --stack-outputs: (None, None),
    or (None, your own session) with `own_session`. The one place a command turns a stack into a session.
    """
    import boto3

    if not getattr(args, "stack_outputs", None):
        if not own_session:
            return None, None
        return None, boto3.Session(
            profile_name=args.profile, region_name=region or getattr(args, "region", None)
        )
    from evaluation.aws.stack_outputs import assume_role_session, load_stack_outputs

    outputs = load_stack_outputs(args.stack_outputs)
    base = boto3.Session(
        profile_name=args.profile, region_name=region or getattr(args, "region", None) or outputs.region
    )
    session = assume_role_session(outputs, base_session=base) if args.assume_role else base
    return outputs, session


def read_aws_evaluation(
    source: str | None, session: Any, *, profile: str | None = None, region: str | None = None
) -> Any:
    """--aws-evaluation, read before any call is paid for: a bad file fails the run at once."""
    if not source:
        return None
    from evaluation.aws.evaluation_summary import read_evaluation_summary

    s3_client = None
    if source.lower().startswith("s3://"):
        import boto3

        s3_client = (session or boto3.Session(profile_name=profile, region_name=region)).client("s3")
    return read_evaluation_summary(source, s3_client=s3_client)


def dataset_source(text: str, outputs: Any) -> str:
    """A dataset named relative to the stack bucket's datasets/ prefix, when it is not a local path."""
    if outputs is None or text.startswith("s3://") or Path(text).exists():
        return text
    return outputs.datasets_uri + text.lstrip("/")


def analysis_options(args: argparse.Namespace, aws_evaluation: Any = None) -> Any:
    """The analysis options of a command line, parsed once: mistakes fail before any call is paid for."""
    from evaluation.options import AnalysisOptions

    return AnalysisOptions.build(
        objective=args.objective,
        min_support=args.min_support,
        use_parents=args.use_parents,
        label_map=args.label_map,
        vocabulary=args.labels,
        absolute_paths=args.absolute_paths,
        aws_evaluation=aws_evaluation,
        slices=getattr(args, "slices", None),
        quality_bins=getattr(args, "quality_bins", None),
        segment_tolerance_ms=getattr(args, "segment_tolerance_ms", None),
        **uncertainty_keywords(args),
    )
