"""rekognition-eval: choose Amazon Rekognition MinConfidence thresholds from data.

`from evaluation import evaluate` for notebooks; the heavy modules load on first use only, so the
command line and the small modules (the protocol server, the cache) start fast.
"""

from typing import Any

from evaluation.version import __version__

__all__ = [
    "AnalysisOptions",
    "EvaluationResult",
    "RunRequest",
    "__version__",
    "evaluate",
    "reanalyse",
    "write_run",
]


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        from evaluation import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'evaluation' has no attribute {name!r}")
