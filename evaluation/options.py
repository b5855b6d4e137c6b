"""Every setting of a run, validated once where it is built: `RunRequest` (the calls) and
`AnalysisOptions` (the judging). The parsed objects travel through the pipeline, not strings or long
keyword lists; the CLI and the notebook API build them, nothing else parses options again."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from evaluation.datasets import Dataset
from evaluation.errors import UserError
from evaluation.labelmap import LabelMap
from evaluation.operations import check_backend, check_operation
from evaluation.stats.thresholds import Objective

BACKENDS = ("rekognition", "replay", "local", "custom-labels")
DEFAULT_QUALITY_BINS = (0.0, 25.0, 50.0, 75.0, 100.0)


@dataclass(frozen=True)
class AnalysisOptions:
    """Everything that changes the numbers but not the calls: change them freely with `reanalyse`.

    `objective` and `label_map` accept text (an objective, a YAML path) and are parsed here, once.
    """

    objective: Objective = field(default_factory=lambda: Objective.parse("best-f1"))
    min_support: int = 10
    use_parents: bool = True
    label_map: LabelMap = field(default_factory=LabelMap.identity)
    label_map_path: str | None = None
    vocabulary: tuple[str, ...] | None = None
    # A Custom Labels EvaluationSummary, parsed (evaluation.aws.evaluation_summary.AwsEvaluation), to put
    # beside this run's numbers; None: the run's own, if it had one.
    aws_evaluation: Any = None
    slices: tuple[str, ...] = ()  # --slice KEY: see evaluation.analysis.slices
    quality_bins: tuple[float, ...] = DEFAULT_QUALITY_BINS  # bin edges of brightness, sharpness, contrast

    @classmethod
    def build(
        cls,
        *,
        objective: str | Objective | None = None,
        min_support: int | None = None,
        use_parents: bool | None = None,
        label_map: str | Path | None = None,
        vocabulary: Sequence[str] | None = None,
        aws_evaluation: Any = None,
        slices: Sequence[str] | None = None,
        quality_bins: Sequence[float] | str | None = None,
    ) -> AnalysisOptions:
        """From plain values (None: the default); every mistake is a UserError naming the option."""
        if min_support is not None and min_support < 0:
            raise UserError(f"--min-support must not be negative, got {min_support}")
        if isinstance(slices, str):
            slices = [slices]
        bins = _quality_bins(quality_bins)
        parsed = objective if isinstance(objective, Objective) else Objective.parse(objective or "best-f1")
        return cls(
            objective=parsed,
            min_support=10 if min_support is None else int(min_support),
            use_parents=True if use_parents is None else bool(use_parents),
            label_map=LabelMap.load(label_map) if label_map else LabelMap.identity(),
            label_map_path=str(label_map) if label_map else None,
            vocabulary=tuple(vocabulary) if vocabulary is not None else None,
            aws_evaluation=aws_evaluation,
            slices=tuple(dict.fromkeys(str(key).strip() for key in slices or () if str(key).strip())),
            quality_bins=bins,
        )

    @classmethod
    def from_dict(cls, recorded: Mapping[str, Any], **changes: Any) -> AnalysisOptions:
        """A run's recorded options (run.json's "analysis") with `changes` (None: keep the run's)."""
        unknown = set(changes) - ANALYSIS_KEYWORDS
        if unknown:
            raise TypeError(f"unknown analysis options: {sorted(unknown)}")
        values = {key: recorded.get(key) for key in ANALYSIS_KEYWORDS if key != "aws_evaluation"}
        values.update({key: value for key, value in changes.items() if value is not None})
        return cls.build(**values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "objective": str(self.objective),
            "min_support": self.min_support,
            "use_parents": self.use_parents,
            "label_map": self.label_map_path,
            "vocabulary": list(self.vocabulary) if self.vocabulary is not None else None,
            # only when slicing, so run folders without slices read as they always did
            **({"slices": list(self.slices), "quality_bins": list(self.quality_bins)} if self.slices else {}),
        }


def _quality_bins(value: Sequence[float] | str | None) -> tuple[float, ...]:
    """--quality-bins 0,40,70,100: increasing edges within 0-100 (ImageProperties' Quality scale)."""
    if value is None:
        return DEFAULT_QUALITY_BINS
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        edges = tuple(float(part) for part in parts)
    except (TypeError, ValueError):
        raise UserError(
            f"--quality-bins must be numbers separated by commas, e.g. 0,40,70,100; got {value!r}"
        ) from None
    if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
        raise UserError(
            f"--quality-bins needs at least two increasing edges, e.g. 0,40,70,100; got {value!r}"
        )
    return edges


ANALYSIS_KEYWORDS = frozenset(
    {
        "objective",
        "min_support",
        "use_parents",
        "label_map",
        "vocabulary",
        "aws_evaluation",
        "slices",
        "quality_bins",
    }
)


@dataclass(frozen=True)
class RunRequest:
    """Everything about the calls of a run: what is read, who answers, what is asked, how fast, at what
    cost. Validated in __post_init__, before the dataset is read or anything is paid for."""

    dataset: str | Path | Dataset
    backend: str = "rekognition"
    operation: str = "labels"
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    min_confidence: float = 0.0
    max_labels: int = 1000
    cache: str | Path | None = None
    dataset_format: str | None = None
    skip_bad_lines: bool = False
    vocabulary: tuple[str, ...] | None = None  # read only these labels of the dataset
    workers: int = 8
    tps: float | None = None
    convert: bool = False
    fit: bool = False
    max_cost: float | None = None
    price_table: str | Path | None = None
    progress: bool = True
    project_version_arn: str | None = None
    max_results: int | None = None
    # The production request (--request FILE.yaml, or a mapping): DetectLabels Features and Settings,
    # DetectModerationLabels ProjectVersion, as boto3 takes them; parsed and validated into `production`.
    request: Mapping[str, Any] | str | Path | None = None
    project_version: str | None = None  # a Custom Moderation adapter (--project-version ARN)
    refresh: bool = False  # call again for images already in the cache
    model_version: str | None = None  # use the stored answers of this model version only
    canary: int | None = None  # re-call this many cached images first; stop if the model changed
    canary_seed: int = 0
    production: dict[str, Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        check_operation(self.operation)
        if self.backend not in BACKENDS:
            raise UserError(f"unknown backend {self.backend!r}; choose one of: {', '.join(BACKENDS)}")
        check_backend(self.backend, self.operation)
        if not 0.0 <= self.min_confidence <= 100.0:
            raise UserError(f"--min-confidence must be within 0 and 100, got {self.min_confidence:g}")
        if not 1 <= self.max_labels <= 1000:
            raise UserError(f"--max-labels must be within 1 and 1000, got {self.max_labels}")
        if self.workers < 1:
            raise UserError(f"--workers must be at least 1, got {self.workers}")
        if self.tps is not None and self.tps <= 0:
            raise UserError(f"--tps must be positive, got {self.tps:g}")
        if self.max_cost is not None and self.max_cost < 0:
            raise UserError(f"--max-cost must not be negative, got {self.max_cost:g}")
        if self.vocabulary is not None and not isinstance(self.vocabulary, tuple):
            object.__setattr__(self, "vocabulary", tuple(self.vocabulary))
        object.__setattr__(self, "production", self._production())
        if self.canary is not None and self.canary < 1:
            raise UserError(f"--canary must be at least 1 image, got {self.canary}")
        if self.model_version is not None and self.refresh:
            raise UserError(
                "--model-version reads stored answers of one version; --refresh calls again: pick one"
            )
        if self.canary is not None and self.model_version is not None:
            raise UserError("--canary checks the newest answers; it cannot be combined with --model-version")

    def _production(self) -> dict[str, Any]:
        """The request file's keys for this operation's API, checked against botocore's model."""
        from evaluation.calls.production import load_request
        from evaluation.operations import operation_for

        api = operation_for(self.operation).api
        production = load_request(self.request, api)
        if self.project_version:
            if api != "DetectModerationLabels":
                raise UserError(
                    "--project-version is a Custom Moderation adapter: it needs --operation moderation "
                    "(a Custom Labels model is --backend custom-labels --project-version-arn)"
                )
            given = production.get("ProjectVersion")
            if given and given != self.project_version:
                raise UserError("--project-version and the request file name different adapters")
            production = {**production, "ProjectVersion": self.project_version}
            from evaluation.calls.production import validate_params

            validate_params(api, production, source="--project-version")
        if production and self.backend in ("local", "custom-labels"):
            raise UserError(
                f"the {self.backend} backend cannot send {', '.join(production)}: a request file is for "
                "--backend rekognition (or replay of its answers)"
            )
        return production

    def but(self, **changes: Any) -> RunRequest:
        """A copy with some settings changed (validated again)."""
        return replace(self, **changes)


RUN_KEYWORDS = frozenset(f.name for f in fields(RunRequest) if f.init)


def split_keywords(keywords: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The notebook API's keywords, sorted once into RunRequest's and AnalysisOptions' (vocabulary is
    both: the labels read from the dataset and the labels judged)."""
    unknown = set(keywords) - RUN_KEYWORDS - ANALYSIS_KEYWORDS
    if unknown:
        raise TypeError(f"unknown keyword(s): {', '.join(sorted(unknown))}")
    run = {key: value for key, value in keywords.items() if key in RUN_KEYWORDS}
    analysis = {key: value for key, value in keywords.items() if key in ANALYSIS_KEYWORDS}
    return run, analysis
