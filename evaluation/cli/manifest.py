"""`rekognition-eval manifest DATASET [--out FILE.manifest]`: a dataset as a Custom Labels manifest.

Without --out it only checks the dataset against Custom Labels' limits, so a manifest from elsewhere can
be checked before an import fails on it. Problems are listed one per line with the manifest line and the
dataset line they come from.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from evaluation.errors import UserError

MAX_LISTED = 50


def add_manifest_parser(commands: Any) -> None:
    manifest = commands.add_parser(
        "manifest",
        help="write a dataset as a Custom Labels (Ground Truth) manifest, checked against its limits",
        description=(
            "Read a dataset (manifest, CSV or folders; local or s3://) and write it as a SageMaker Ground "
            "Truth manifest that Rekognition Custom Labels imports as a test or training set: image-level "
            "labels as classification attributes, boxes as one object-detection attribute. Every line is "
            "checked against Custom Labels' documented limits; without --out, only the check is made."
        ),
    )
    manifest.add_argument(
        "dataset", metavar="DATASET", nargs="?", help="the dataset (not with --adapter-errors)"
    )
    manifest.add_argument(
        "--adapter-errors",
        metavar="RUN_DIR",
        help="instead of a dataset: the images a moderation run's base model got wrong, as a Custom "
        "Moderation adapter training manifest (content-moderation-groundtruth), checked against AWS's "
        "documented minimums",
    )
    manifest.add_argument(
        "--thresholds",
        metavar="FILE",
        help="with --adapter-errors: judge errors at these deployed thresholds",
    )
    manifest.add_argument(
        "--include-correct",
        type=int,
        default=0,
        metavar="N",
        help="with --adapter-errors: add N correctly judged images (AWS recommends some)",
    )
    manifest.add_argument("--out", metavar="FILE", help="the manifest to write (default: only check)")
    manifest.add_argument(
        "--s3-prefix",
        metavar="S3_URI",
        help="where the local images will be uploaded (s3://bucket/datasets/x/): their source-ref is this "
        "prefix plus their path under the images' common folder (Custom Labels imports S3 images only)",
    )
    manifest.add_argument(
        "--kind",
        choices=["auto", "classification", "detection"],
        default="auto",
        help="auto (default): detection when the dataset has boxes, else classification",
    )
    manifest.add_argument(
        "--negative-label",
        metavar="NAME",
        help="the label given to images with none of the labels (classification needs a label per image)",
    )
    manifest.add_argument(
        "--attribute",
        default="rekognition-eval",
        help="the label attribute's name (default rekognition-eval)",
    )
    manifest.add_argument(
        "--purpose",
        choices=["test", "train"],
        default="test",
        help="which Custom Labels dataset it is for (the limits differ a little; default test)",
    )
    manifest.add_argument(
        "--format", choices=["manifest", "csv", "folders"], help="override format detection"
    )
    manifest.add_argument("--skip-bad-lines", action="store_true", help="skip unreadable dataset lines")
    manifest.add_argument("--region", help="AWS region, for S3 datasets and images")
    manifest.add_argument("--profile", help="AWS profile name, for S3 datasets and images")


def cmd_adapter_manifest(args: argparse.Namespace) -> int:
    from evaluation.reports.adapter_manifest import adapter_manifest, write_adapter_manifest

    deployed = None
    if args.thresholds:
        from evaluation.reports.check import load_deployed

        deployed = load_deployed(args.thresholds)
    manifest = adapter_manifest(
        args.adapter_errors, deployed=deployed, s3_prefix=args.s3_prefix, include_correct=args.include_correct
    )
    for problem in manifest.problems:
        print(f"warning: {problem}", file=sys.stderr)
    if args.out:
        write_adapter_manifest(manifest, args.out)
        print(f"Adapter manifest: {args.out}")
    print(manifest.describe())
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    if args.adapter_errors:
        if args.dataset:
            raise UserError("manifest: give DATASET or --adapter-errors RUN_DIR, not both")
        return cmd_adapter_manifest(args)
    if not args.dataset:
        raise UserError("manifest: give a DATASET (or --adapter-errors RUN_DIR)")
    from evaluation.datasets import load_dataset
    from evaluation.datasets.manifest_writer import ManifestError, build_manifest, image_size, write_manifest

    s3_client = _s3_client(args)
    dataset = load_dataset(
        args.dataset, format=args.format, skip_bad_lines=args.skip_bad_lines, s3_client=s3_client
    )
    options = {
        "s3_prefix": args.s3_prefix,
        "kind": args.kind,
        "negative_label": args.negative_label,
        "attribute": args.attribute,
        "purpose": args.purpose,
        "sizes": lambda ref: image_size(ref, s3_client if ref.is_s3 else None),
    }
    try:
        if args.out:
            manifest = write_manifest(dataset, args.out, **options)
        else:
            manifest = build_manifest(dataset, manifest_path=args.dataset, **options)
    except ManifestError as error:
        _list_problems(error.manifest.problems)
        raise UserError(str(error).split(", the first:")[0] + " (listed above)") from None
    _list_problems(manifest.problems)
    counts = f"{len(manifest.lines)} image(s), {len(manifest.labels)} label(s), {manifest.kind}"
    if not args.out:
        if manifest.errors:
            raise UserError(f"{len(manifest.errors)} problem(s) with Custom Labels' limits (listed above)")
        print(f"Checked {args.dataset}: {counts}; within Custom Labels' limits.")
        return 0
    print(f"Manifest: {args.out} ({counts})")
    if manifest.upload_root and args.s3_prefix:
        print(
            f"Upload the images before importing it:\n  aws s3 sync {manifest.upload_root} {args.s3_prefix}"
        )
    return 0


def _list_problems(problems: list) -> None:
    for problem in problems[:MAX_LISTED]:
        print(problem, file=sys.stderr)
    if len(problems) > MAX_LISTED:
        print(f"... and {len(problems) - MAX_LISTED} more", file=sys.stderr)


def _s3_client(args: argparse.Namespace) -> Any:
    """For a dataset in S3, and for the sizes of S3 images (a ranged GET of each one's header)."""
    import boto3

    return boto3.Session(profile_name=args.profile, region_name=args.region).client("s3")
