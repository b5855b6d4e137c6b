"""`rekognition-eval demo`: the bundled sample dataset judged by the offline baseline, from wherever the
package is installed (the sample and the model are package data). No AWS account, no network; it opens
nothing by itself and prints where the report is."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from evaluation.cli.common import exit_code, print_result
from evaluation.errors import UserError

DEFAULT_OUT = Path("reports") / "sample-demo"


def sample_folder() -> Path:
    """The bundled sample (manifest.jsonl, label_map.yaml, images/) inside the installed package."""
    from evaluation.data import sample_dataset

    folder = sample_dataset()
    if not (folder / "manifest.jsonl").is_file():
        raise UserError(f"the bundled sample is missing from {folder}: reinstall rekognition-eval")
    return folder


def add_parser(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="evaluate the bundled sample offline and print where the report is",
        description=(
            "Evaluate the bundled sample dataset (72 images, 9 labels) with the offline local baseline: no "
            "AWS account, no network. Writes a run folder and prints where its report.html is."
        ),
    )
    demo.add_argument(
        "--out", default=str(DEFAULT_OUT), help=f"the run folder to write (default {DEFAULT_OUT})"
    )
    demo.add_argument(
        "--cache",
        help="the response cache (default ~/.cache/rekognition-eval/responses.sqlite; a rerun calls nothing)",
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from evaluation.pipeline import evaluate

    sample = sample_folder()
    result = evaluate(
        sample / "manifest.jsonl",
        backend="local",
        label_map=sample / "label_map.yaml",
        min_support=5,
        cache=args.cache,
        progress=False,
        out=args.out,
    )
    out_dir = Path(args.out)
    print_result(result, out_dir)
    print(f"Open {(out_dir / 'report.html').resolve()} in a browser to explore the thresholds.")
    return exit_code(result)
