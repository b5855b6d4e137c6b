"""Every setting of a run, validated once where it is built: `RunRequest` (the calls) and
`AnalysisOptions` (the judging). The parsed objects travel through the pipeline, not strings or long
keyword lists; the CLI and the notebook API build them, nothing else parses options again."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from evaluation.calls.production import production_request
from evaluation.datasets import Dataset
from evaluation.errors import UserError, read_yaml_file
from evaluation.labelmap import LabelMap
from evaluation.operations import check_backend, check_operation, operation_for
from evaluation.operations.answers import DEFAULT_QUALITY_BINS, quality_bins_from, slice_keys
from evaluation.stats.thresholds import Objective

BACKENDS = ("rekognition", "replay", "local", "custom-labels")
DEFAULT_SEGMENT_TOLERANCE_MS = 500.0  # video Timestamps are "not frame-exact": +-0.5 s of an edge unjudged


PRICE_TABLE = "price-table"  # --cost-per-call price-table: the run's API at its region's list price


def _number(value: Any, option: str, *, low: float = 0.0, high: float = math.inf, whole: bool = False) -> Any:
    """A number within [low, high] from text or a number, or a UserError naming the option."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{option} must be a number; got {value!r}") from None
    if not low <= number <= high or math.isnan(number):
        bounds = f"at least {low:g}" if high == math.inf else f"within {low:g} and {high:g}"
        raise UserError(f"{option} must be {bounds}; got {value!r}")
    if whole:
        if number != int(number):
            raise UserError(f"{option} must be a whole number; got {value!r}")
        return int(number)
    return number


def _rate(value: Any, option: str) -> float:
    """A rate per image: 0.01 or 1%."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return _number(value.strip()[:-1], option, high=100.0) / 100.0
    return _number(value, option, high=1.0)


@dataclass(frozen=True)
class Costs:
    """What errors cost, for `--objective min-cost` and the review band's cost: per false positive and
    per false negative (one number, or per label with a "*" default), per human review of a prediction,
    and per call (paid once per image, for the whole application)."""

    fp: float | Mapping[str, float]
    fn: float | Mapping[str, float]
    review: float | Mapping[str, float] = 0.0
    call: float | str = (
        0.0  # a number, or PRICE_TABLE: resolved by the analysis from the run's API and region
    )
    path: str | None = None  # the --costs file, as given

    @classmethod
    def build(
        cls,
        *,
        cost_fp: Any = None,
        cost_fn: Any = None,
        costs: str | Path | Mapping[str, Any] | None = None,
        cost_per_call: Any = None,
        cost_per_review: Any = None,
    ) -> Costs | None:
        """From the options (None when none is given). A --costs file (YAML) gives costs per label:
        ``Cat: {fp: 2, fn: 10, review: 0.5}``, with ``"*"`` for every other label; --cost-fp/--cost-fn
        /--cost-per-review are the defaults it falls back on."""
        given = (cost_fp, cost_fn, costs, cost_per_call, cost_per_review)
        if all(value is None for value in given):
            return None
        defaults = {
            "fp": None if cost_fp is None else _number(cost_fp, "--cost-fp"),
            "fn": None if cost_fn is None else _number(cost_fn, "--cost-fn"),
            "review": 0.0 if cost_per_review is None else _number(cost_per_review, "--cost-per-review"),
        }
        per_label: dict[str, dict[str, float]] = {}
        path = None
        if costs is not None:
            path = None if isinstance(costs, Mapping) else str(costs)
            per_label = _read_costs(costs)
        values: dict[str, Any] = {}
        for kind, default in defaults.items():
            named = {label: entry[kind] for label, entry in per_label.items() if kind in entry}
            if not named:
                values[kind] = default
                continue
            if default is not None and "*" not in named:
                named["*"] = default
            values[kind] = named
        if values["fp"] is None or values["fn"] is None:
            missing = [f"--cost-{kind}" for kind in ("fp", "fn") if values[kind] is None]
            raise UserError(
                f"costs need a cost per false positive and per false negative: give {' and '.join(missing)} "
                "(or fp/fn in a --costs file)"
            )
        call: float | str = 0.0
        if cost_per_call is not None:
            text = str(cost_per_call).strip().lower()
            call = (
                PRICE_TABLE
                if text in (PRICE_TABLE, "prices", "list-price")
                else _number(cost_per_call, "--cost-per-call")
            )
        return cls(fp=values["fp"], fn=values["fn"], review=values["review"], call=call, path=path)

    def to_dict(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            return dict(value) if isinstance(value, Mapping) else value

        return {
            "fp": plain(self.fp),
            "fn": plain(self.fn),
            "review": plain(self.review),
            "call": self.call,
            "path": self.path,
        }

    @classmethod
    def from_dict(cls, recorded: Mapping[str, Any] | None) -> Costs | None:
        if not recorded:
            return None
        return cls(
            fp=recorded["fp"],
            fn=recorded["fn"],
            review=recorded.get("review", 0.0),
            call=recorded.get("call", 0.0),
            path=recorded.get("path"),
        )


def _read_costs(source: str | Path | Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """A --costs file: label -> {fp, fn, review} (any of them), "*" for every other label."""
    where = "costs" if isinstance(source, Mapping) else str(source)
    if isinstance(source, Mapping):
        document: Any = source
    else:
        document = read_yaml_file(source, f"--costs {source}")
    if not isinstance(document, Mapping) or not document:
        raise UserError(f"{where}: expected a mapping label -> {{fp: ..., fn: ..., review: ...}}")
    out: dict[str, dict[str, float]] = {}
    for label, entry in document.items():
        if not isinstance(entry, Mapping) or not entry:
            raise UserError(
                f"{where}: {label!r} must map to {{fp: ..., fn: ..., review: ...}}; got {entry!r}"
            )
        unknown = sorted(set(map(str, entry)) - {"fp", "fn", "review"})
        if unknown:
            raise UserError(f"{where}: {label!r} has unknown key(s) {unknown}; use fp, fn, review")
        out[str(label)] = {str(k): _number(v, f"{where}: {label}.{k}") for k, v in entry.items()}
    return out


@dataclass(frozen=True)
class ReviewBand:
    """`--review-band`: two thresholds per label, a person checks what falls between them; the band
    must leave an error rate per image of at most `max_errors` and send at most `max_review_rate`."""

    max_errors: float = 0.01
    max_review_rate: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"max_errors": self.max_errors, "max_review_rate": self.max_review_rate}


@dataclass(frozen=True)
class AnalysisOptions:
    """Everything that changes the numbers but not the calls: change them freely with `reanalyse`.

    `objective` and `label_map` accept text (an objective, a YAML path) and are parsed here, once.
    `level` is the level of every interval (Wilson and bootstrap) and of a certain objective; `resamples`
    bootstrap resamples (0: no bootstrap) drawn from `seed`; `half_width` the interval half-width the
    data advice plans for.
    """

    objective: Objective = field(default_factory=lambda: Objective.parse("best-f1"))
    min_support: int = 10
    use_parents: bool = True
    label_map: LabelMap = field(default_factory=LabelMap.identity)
    label_map_path: str | None = None
    vocabulary: tuple[str, ...] | None = None
    # summary.json and the reports show local paths relative to the dataset's folder unless this is set
    absolute_paths: bool = False
    segment_tolerance_ms: float = DEFAULT_SEGMENT_TOLERANCE_MS
    # A Custom Labels EvaluationSummary, parsed (evaluation.aws.evaluation_summary.AwsEvaluation), to put
    # beside this run's numbers; None: the run's own, if it had one.
    aws_evaluation: Any = None
    slices: tuple[str, ...] = ()  # --slice KEY: see evaluation.analysis.slices
    quality_bins: tuple[float, ...] = DEFAULT_QUALITY_BINS  # bin edges of brightness, sharpness, contrast
    level: float = 0.95
    resamples: int = 1000
    seed: int = 0
    # True: always the exact bootstrap; False: above a work budget the bag of little bootstraps
    exact_bootstrap: bool = False
    half_width: float = 0.05
    costs: Costs | None = None
    review_band: ReviewBand | None = None

    @classmethod
    def build(
        cls,
        *,
        objective: str | Objective | None = None,
        min_support: int | None = None,
        use_parents: bool | None = None,
        label_map: str | Path | None = None,
        vocabulary: Sequence[str] | None = None,
        absolute_paths: bool | None = None,
        aws_evaluation: Any = None,
        slices: Sequence[str] | None = None,
        quality_bins: Sequence[float] | str | None = None,
        segment_tolerance_ms: float | None = None,
        confidence_level: float | None = None,
        resamples: int | None = None,
        seed: int | None = None,
        exact_bootstrap: bool | None = None,
        half_width: float | None = None,
        certain: bool | None = None,
        cost_fp: Any = None,
        cost_fn: Any = None,
        costs: Any = None,
        cost_per_call: Any = None,
        cost_per_review: Any = None,
        review_band: bool | Mapping[str, Any] | ReviewBand | None = None,
        max_errors: Any = None,
        max_review_rate: Any = None,
    ) -> AnalysisOptions:
        """From plain values (None: the default); every mistake is a UserError naming the option."""
        if min_support is not None and min_support < 0:
            raise UserError(f"--min-support must not be negative, got {min_support}")
        level = 0.95 if confidence_level is None else _number(confidence_level, "--confidence-level")
        if not 0.5 <= level < 1.0:
            raise UserError(f"--confidence-level must be in [0.5, 1), e.g. 0.95; got {confidence_level!r}")
        if isinstance(objective, Objective):
            parsed = objective
            if certain and not parsed.certain:
                parsed = Objective.parse(str(parsed), certain=True, level=level)
        else:
            text = objective or "best-f1"
            certain_given = bool(certain) or ":certain" in str(text).lower()
            parsed = Objective.parse(text, certain=bool(certain), level=level if certain_given else None)
        cost_settings = (
            costs
            if isinstance(costs, Costs)
            else Costs.build(
                cost_fp=cost_fp,
                cost_fn=cost_fn,
                costs=costs,
                cost_per_call=cost_per_call,
                cost_per_review=cost_per_review,
            )
        )
        if parsed.kind == "min-cost" and cost_settings is None:
            raise UserError(
                "--objective min-cost needs costs: --cost-fp and --cost-fn (or a --costs FILE.yaml)"
            )
        band = _review_band(review_band, max_errors, max_review_rate)
        bins = quality_bins_from(quality_bins)
        return cls(
            objective=parsed,
            min_support=10 if min_support is None else int(min_support),
            use_parents=True if use_parents is None else bool(use_parents),
            label_map=LabelMap.load(label_map) if label_map else LabelMap.identity(),
            label_map_path=str(label_map) if label_map else None,
            vocabulary=tuple(vocabulary) if vocabulary is not None else None,
            absolute_paths=bool(absolute_paths),
            aws_evaluation=aws_evaluation,
            slices=slice_keys(slices),
            quality_bins=bins,
            segment_tolerance_ms=_number(
                DEFAULT_SEGMENT_TOLERANCE_MS if segment_tolerance_ms is None else segment_tolerance_ms,
                "--segment-tolerance-ms",
            ),
            level=level,
            resamples=1000 if resamples is None else _number(resamples, "--resamples", high=1e6, whole=True),
            seed=0 if seed is None else _number(seed, "--seed", high=2**63 - 1, whole=True),
            exact_bootstrap=bool(exact_bootstrap),
            half_width=0.05 if half_width is None else _half_width(half_width),
            costs=cost_settings,
            review_band=band,
        )

    @classmethod
    def from_dict(cls, recorded: Mapping[str, Any], **changes: Any) -> AnalysisOptions:
        """A run's recorded options (run.json's "analysis") with `changes` (None: keep the run's)."""
        unknown = set(changes) - ANALYSIS_KEYWORDS
        if unknown:
            raise TypeError(f"unknown analysis options: {sorted(unknown)}")
        values = {key: recorded.get(key) for key in _RECORDED_KEYWORDS}
        values["costs"] = Costs.from_dict(recorded.get("costs"))
        band = recorded.get("review_band")
        values["review_band"] = ReviewBand(**band) if band else None
        given = {key: value for key, value in changes.items() if value is not None}
        if given.keys() & _COST_KEYWORDS:  # new costs replace the run's as a whole
            values["costs"] = None
        if given.keys() & {"max_errors", "max_review_rate"} and values["review_band"] is not None:
            old = values["review_band"]
            given.setdefault("max_errors", old.max_errors)
            given.setdefault("max_review_rate", old.max_review_rate)
            values["review_band"] = None
        if given.get("review_band") is False:
            given["review_band"] = None
            values["review_band"] = None
        values.update(given)
        return cls.build(**values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "objective": str(self.objective),
            "min_support": self.min_support,
            "use_parents": self.use_parents,
            "label_map": self.label_map_path,
            "vocabulary": list(self.vocabulary) if self.vocabulary is not None else None,
            "absolute_paths": self.absolute_paths,
            "segment_tolerance_ms": self.segment_tolerance_ms,
            "confidence_level": self.level,
            "resamples": self.resamples,
            "seed": self.seed,
            "exact_bootstrap": self.exact_bootstrap,
            "half_width": self.half_width,
            "costs": self.costs.to_dict() if self.costs else None,
            "review_band": self.review_band.to_dict() if self.review_band else None,
            **({"slices": list(self.slices), "quality_bins": list(self.quality_bins)} if self.slices else {}),
        }


def _half_width(value: Any) -> float:
    width = _number(value, "--half-width")
    if not 0.0 < width < 0.5:
        raise UserError(f"--half-width must be in (0, 0.5), e.g. 0.05; got {value!r}")
    return width


def _review_band(enabled: Any, max_errors: Any, max_review_rate: Any) -> ReviewBand | None:
    if isinstance(enabled, ReviewBand):
        return enabled
    if isinstance(enabled, Mapping):
        return ReviewBand(**{key: _rate(value, key) for key, value in enabled.items()})
    if not enabled:
        if max_errors is not None or max_review_rate is not None:
            raise UserError("--max-errors and --max-review-rate constrain --review-band: add --review-band")
        return None
    return ReviewBand(
        max_errors=0.01 if max_errors is None else _rate(max_errors, "--max-errors"),
        max_review_rate=1.0 if max_review_rate is None else _rate(max_review_rate, "--max-review-rate"),
    )


_COST_KEYWORDS = frozenset({"cost_fp", "cost_fn", "costs", "cost_per_call", "cost_per_review"})
_RECORDED_KEYWORDS = (
    "objective",
    "min_support",
    "use_parents",
    "label_map",
    "vocabulary",
    "confidence_level",
    "resamples",
    "seed",
    "exact_bootstrap",
    "half_width",
    "segment_tolerance_ms",
    "absolute_paths",
    "slices",
    "quality_bins",
)
ANALYSIS_KEYWORDS = frozenset(
    {*_RECORDED_KEYWORDS, "aws_evaluation", "certain", "review_band", "max_errors", "max_review_rate"}
    | _COST_KEYWORDS
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
    # The production request (--request FILE.yaml, or a mapping), checked into `production`
    request: Mapping[str, Any] | str | Path | None = None
    project_version: str | None = None  # a Custom Moderation adapter (--project-version ARN)
    refresh: bool = False  # call again for images already in the cache
    model_version: str | None = None  # use the stored answers of this model version only
    canary: int | None = None  # re-call this many cached images first; stop if the model changed
    canary_seed: int = 0
    production: dict[str, Any] = field(init=False, default_factory=dict)
    # stored videos: where local videos are uploaded (None: refused), jobs at once (None: the quota),
    # (SNS topic, role, SQS queue) to wait on (None: poll), the first wait before a poll (then 1.5x)
    upload_to: str | None = None
    max_concurrent_jobs: int | None = None
    notification_channel: tuple[str, str, str] | None = None
    poll_interval_s: float = 5.0
    # face operations: face-search's gallery (an identity dataset) or an existing collection to read,
    # users (SearchUsersByImage), matches per search, saved liveness answers, the collection's deadline
    gallery: str | Path | None = None
    collection: str | None = None
    users: bool = False
    max_faces: int | None = None
    liveness_answers: str | Path | None = None
    max_runtime_s: float | None = None
    answers: str | Path | None = None  # recorded answers (JSON lines) to store before a replay run

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
        _number(self.max_concurrent_jobs or 1, "--max-concurrent-jobs", low=1, whole=True)
        if not self.poll_interval_s > 0 or not str(self.upload_to or "s3://").startswith("s3://"):
            raise UserError(f"bad poll interval or upload prefix: {self.poll_interval_s}, {self.upload_to}")
        channel = tuple(self.notification_channel or ("-",) * 3)
        if len(channel) != 3 or not all(isinstance(part, str) and part for part in channel):
            raise UserError("--notification-channel needs TOPIC_ARN,ROLE_ARN,QUEUE_URL (the stack's outputs)")
        object.__setattr__(self, "notification_channel", channel if self.notification_channel else None)
        if self.max_faces is not None and not 1 <= self.max_faces <= 4096:
            raise UserError(f"--max-faces must be within 1 and 4096, got {self.max_faces}")
        if self.max_runtime_s is not None and self.max_runtime_s <= 0:
            raise UserError(f"--max-runtime must be positive, got {self.max_runtime_s:g}")
        if (
            self.operation == "face-search"
            and self.backend != "replay"
            and (self.gallery is None) == (self.collection is None)
        ):
            raise UserError("--operation face-search needs a gallery: --gallery DATASET or --collection NAME")
        if self.operation != "face-search" and (self.gallery or self.collection or self.users):
            raise UserError("--gallery, --collection and --users belong to --operation face-search")
        if self.collection is not None and self.users:
            raise UserError(
                "--users makes users in a temporary collection; with --collection use the collection's own"
            )
        if self.liveness_answers is not None and self.operation != "liveness":
            raise UserError("--liveness-answers belongs to --operation liveness")
        if self.answers is not None and self.backend != "replay":
            raise UserError(
                "--answers FILE takes recorded answers for --backend replay; add --backend replay"
            )
        if self.vocabulary is not None and not isinstance(self.vocabulary, tuple):
            object.__setattr__(self, "vocabulary", tuple(self.vocabulary))
        object.__setattr__(self, "production", production_request(self, operation_for(self.operation).api))

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


# The notebook's keywords by the CLI's names (--labels, --no-parents/--parents, --format), mapped once
# onto RunRequest's and AnalysisOptions' fields; either name works, both at once is a mistake.
CLI_NAMES = {"labels": "vocabulary", "parents": "use_parents", "format": "dataset_format"}


def cli_names(keywords: dict[str, Any]) -> dict[str, Any]:
    """`labels="A,B"` / `labels=["A", "B"]`, `parents=False`, `format="csv"` onto the fields they set."""
    mapped = dict(keywords)
    for cli, own in CLI_NAMES.items():
        if cli not in mapped:
            continue
        if own in mapped:
            raise TypeError(f"give {cli}= or {own}=, not both (they are the same setting)")
        mapped[own] = mapped.pop(cli)
    labels = mapped.get("vocabulary")
    if isinstance(labels, str):
        mapped["vocabulary"] = [part.strip() for part in labels.split(",") if part.strip()]
    return mapped
