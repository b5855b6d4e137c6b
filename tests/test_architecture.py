"""The package's shape, kept by tests: no import circle anywhere, and no module too large to read.

The layers themselves (every import points down the pipeline) are import-linter's contracts in
pyproject.toml, run by `make test`; this adds what a layers contract cannot see: circles inside a layer.
"""

from __future__ import annotations

from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[1] / "evaluation"
# Modules allowed past the size limit, each with its reason.
LARGE = {
    "evaluation/stats/thresholds.py": "objectives, statuses and notes of one recommendation rule",
    "evaluation/reports/html.py": "one self-contained page: its sections and their data",
    "evaluation/aws/batch.py": "the batch's submit, status and streamed ingest, one protocol",
    "evaluation/reports/compare.py": "two runs side by side: matching their images, what stops or warns, "
    "the verdict, and three renderings of one table",
    "evaluation/pipeline.py": "plans and runs every kind of operation: per-image calls, faces, video jobs, "
    "and the answers' model versions (their logic lives in calls/versions.py)",
    "evaluation/options.py": "every setting of every operation, each validated once where it is built "
    "(the production request's checks live in calls/production.py)",
    "evaluation/runfolder.py": "the one owner of the run folder: every file written in one staged swap, "
    "with the renderers' and the answers' work in the background, and read back (to split: reading)",
}
MAX_LINES = 500


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_circle_in_the_package():
    graph = grimp.build_graph("evaluation", exclude_type_checking_imports=True)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_circle():
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="a")
    graph.add_import(importer="c", imported="a")
    assert _cycles(graph) == [["a", "b"]]


def test_no_module_over_the_size_limit_without_a_reason():
    over = {
        str(path.relative_to(PACKAGE.parent)): sum(1 for _ in path.open(encoding="utf-8"))
        for path in PACKAGE.rglob("*.py")
    }
    over = {name: lines for name, lines in over.items() if lines > MAX_LINES and name not in LARGE}
    assert over == {}
