"""report.md's statements about the settings a run was judged with."""

from __future__ import annotations

from pathlib import Path

from evaluation.options import AnalysisOptions
from evaluation.reports.markdown import render_markdown
from tests.support.runs import synthetic_result


def test_a_half_width_other_than_the_default_is_named_with_the_default(tmp_path: Path) -> None:
    wide = synthetic_result(
        tmp_path, labels=["Cat"], n_images=40, options=AnalysisOptions.build(half_width=0.2, resamples=0)
    )
    report = render_markdown(wide)
    assert "within +-0.2 (set with --half-width 0.2; the default is +-0.05) at its recommendation" in report


def test_the_default_half_width_is_stated_without_a_note(tmp_path: Path) -> None:
    report = render_markdown(
        synthetic_result(tmp_path, labels=["Cat"], n_images=40, options=AnalysisOptions.build(resamples=0))
    )
    assert "within +-0.05 at its recommendation" in report
    assert "set with --half-width" not in report
