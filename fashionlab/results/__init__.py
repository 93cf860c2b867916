"""One typed results model: run summaries, settings, comparisons with verdicts, and findings.

Tables, train's summary, sweep and compare footers and the report all render from it; no view computes a
verdict of its own (docs/evidence.md, "Is the difference real?").
"""

from fashionlab.results.collect import (
    DEFAULT_SORT,
    cell,
    collect,
    label,
    results_of,
    short_id,
    sort_runs,
    summary_of,
    varying_keys,
)
from fashionlab.results.model import (
    METRIC_MEANING,
    METRICS,
    Comparison,
    Finding,
    Results,
    RunSummary,
    Setting,
    Tested,
    Verdict,
    lower_is_better,
)

__all__ = [
    "DEFAULT_SORT",
    "METRICS",
    "METRIC_MEANING",
    "Comparison",
    "Finding",
    "Results",
    "RunSummary",
    "Setting",
    "Tested",
    "Verdict",
    "cell",
    "collect",
    "label",
    "lower_is_better",
    "results_of",
    "short_id",
    "sort_runs",
    "summary_of",
    "varying_keys",
]
