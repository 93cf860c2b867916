"""Runs that differ only in seed are repeats of one setting: one row per setting with n, mean ± sd, and
how it compares with the best setting (Welch's t-test: difference, 95% CI, p) or "tied within seed noise".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fashionlab import metrics
from fashionlab.views.compare import LOWER_IS_BETTER, cell, short_key
from fashionlab.views.fit import Col

SHOWN = ("test_accuracy", "test_loss", "best_val_accuracy", "best_epoch", "seconds")
HEADERS = {"test_accuracy": "test acc", "test_loss": "test loss", "best_val_accuracy": "best val_acc",
           "best_epoch": "best epoch", "seconds": "time"}  # fmt: skip
TIED_P = 0.05  # p at or above this: the difference is within seed noise


@dataclass
class Setting:
    """The runs of one setting (same config but for the seed)."""

    values: dict[str, Any]  # the setting's value on each key that differs between settings
    rows: list[dict[str, Any]] = field(default_factory=list)
    versus_best: dict[str, float] | None = None  # Welch's test of this setting minus the best one

    def numbers(self, metric: str) -> list[float]:
        return [float(r[metric]) for r in self.rows if isinstance(r.get(metric), int | float)]

    def mean(self, metric: str) -> float | None:
        found = self.numbers(metric)
        return metrics.mean_sd(found)[0] if found else None

    def label(self) -> str:
        return ", ".join(f"{short_key(k)}={cell(v)}" for k, v in self.values.items()) or "all runs"

    @property
    def tied(self) -> bool:
        return self.versus_best is not None and self.versus_best["p"] >= TIED_P


def settings(rows: list[dict[str, Any]], keys: list[str], sort: str) -> list[Setting]:
    """Rows grouped by setting (every varying key but the seed), best first by the mean of `sort`, each
    compared with the best by Welch's t-test on `sort` where both have 2+ seeds."""
    keys = [k for k in keys if k != "seed"]
    by_values: dict[str, Setting] = {}
    for row in rows:
        values = {k: row["config"].get(k) for k in keys}
        by_values.setdefault(repr(values), Setting(values)).rows.append(row)
    found = list(by_values.values())
    low = any(word in sort for word in LOWER_IS_BETTER)
    present = [s for s in found if s.mean(sort) is not None]
    ordered = sorted(present, key=lambda s: (s.mean(sort) or 0.0) * (1 if low else -1))
    ordered += [s for s in found if s not in present]
    if ordered and ordered[0].mean(sort) is not None:
        best = ordered[0]
        for other in ordered[1:]:
            other.versus_best = metrics.welch(other.numbers(sort), best.numbers(sort))
    return ordered


def repeated(groups: list[Setting]) -> bool:
    """True when some setting was run with more than one seed."""
    return any(len(s.rows) > 1 for s in groups)


def _spread(setting: Setting, metric: str) -> str:
    found = setting.numbers(metric)
    if not found:
        return "-"
    mean, sd = metrics.mean_sd(found)
    if metric == "seconds":
        return f"{mean:.1f} s"
    if metric == "best_epoch":
        return f"{mean:.1f}" if len(found) > 1 else f"{mean:.0f}"
    return f"{mean:.4f} ± {sd:.4f}" if len(found) > 1 else f"{mean:.4f}"


def versus(setting: Setting, first: bool) -> str:
    """The 'vs best' cell: best, tied (p), or the difference with its p-value."""
    if first:
        return "best"
    test = setting.versus_best
    if test is None:
        return "n/a (1 seed)"
    if test["p"] >= TIED_P:
        return f"tied ({metrics.p_text(test['p'])})"
    return f"{test['diff']:+.4f} ({metrics.p_text(test['p'])})"


def grouped_columns(groups: list[Setting], sort: str) -> list[Col]:
    """Columns of the table of settings: what differs, n, mean ± sd of the metrics, vs best."""
    keys = list(groups[0].values) if groups else []
    star = ["★ " if i == 0 else "  " for i in range(len(groups))]
    if keys:
        first = Col(
            keys[0],
            short_key(keys[0]),
            0,
            "left",
            cells=[m + cell(s.values[keys[0]]) for m, s in zip(star, groups, strict=True)],
        )
    else:
        first = Col("setting", "setting", 0, "left", cells=[m + "all runs" for m in star])
    cols = [first]
    cols += [Col(k, short_key(k), 0, "left", cells=[cell(s.values[k]) for s in groups]) for k in keys[1:]]
    cols.append(Col("n", "n", 1, cells=[str(len(s.rows)) for s in groups]))
    shown = [sort, *(m for m in SHOWN if m != sort)]
    for i, metric in enumerate(shown):
        header = HEADERS.get(metric, metric).replace(" ", "\n", 1)
        cols.append(
            Col(
                metric,
                header,
                2 + i,
                style="bold" if metric == sort else None,
                cells=[_spread(s, metric) for s in groups],
            )
        )
        if i == 0:
            cols.append(
                Col(
                    "vs_best",
                    f"vs best\n{HEADERS.get(sort, sort)}",
                    2.5,
                    cells=[versus(s, j == 0) for j, s in enumerate(groups)],
                )
            )
    return cols


def grouped_records(groups: list[Setting], sort: str, with_runs: bool = True) -> list[dict[str, Any]]:
    """One record per setting (for json, csv, md): its values, n, and mean, sd, min, max of each metric."""
    out = []
    for i, setting in enumerate(groups):
        record: dict[str, Any] = dict(setting.values)
        record["n"] = len(setting.rows)
        for metric in SHOWN if sort in SHOWN else (sort, *SHOWN):
            found = setting.numbers(metric)
            mean, sd = metrics.mean_sd(found) if found else (None, None)
            record.update({f"{metric}_mean": mean, f"{metric}_sd": sd,
                           f"{metric}_min": min(found) if found else None,
                           f"{metric}_max": max(found) if found else None})  # fmt: skip
        test = setting.versus_best
        record["vs_best"] = "best" if i == 0 else (None if test is None else ("tied" if setting.tied else "worse"))
        for key in ("diff", "low", "high", "p"):
            record[f"vs_best_{key}"] = test[key] if test else None
        if with_runs:
            record["runs"] = [r["run"] for r in setting.rows]
        out.append(record)
    return out


def grouped_cells(groups: list[Setting], sort: str) -> list[dict[str, str]]:
    """The table of settings as formatted cells under one-line headers (for a report)."""
    cols = grouped_columns(groups, sort)
    return [{c.header.replace("\n", " "): str(c.cells[i]).strip() for c in cols} for i in range(len(groups))]


def curves_png(runs: list[Any], sort: str = "best_val_accuracy") -> bytes:
    """Learning curves: per setting (mean with a band over its seeds) when runs repeat a setting, else per run."""
    from fashionlab.views import compare, plots

    rows = [compare.compare_row(r) for r in runs]
    found = settings(rows, compare.varying_keys(rows), sort)
    if not repeated(found):
        return plots.curves_png(runs, compare.run_labels(runs))
    by_id = {r.id: r for r in runs}
    return plots.settings_curves_png([(s.label(), [by_id[row["run"]] for row in s.rows]) for s in found])
