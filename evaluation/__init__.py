"""rekognition-eval: choose Amazon Rekognition MinConfidence thresholds from data.

`from evaluation import evaluate` for notebooks; the heavy modules load on first use only, so the
command line and the small modules (the protocol server, the cache) start fast.
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["EvaluationResult", "__version__", "evaluate", "reanalyse"]


def __getattr__(name: str) -> Any:
    if name in {"EvaluationResult", "evaluate", "reanalyse"}:
        from evaluation import api

        return getattr(api, name)
    raise AttributeError(f"module 'evaluation' has no attribute {name!r}")
