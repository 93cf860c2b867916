"""Runs that differ only in seed are repeats of one setting: one row per setting with n, mean ± sd, and
its verdict against the best setting (results.noise: Welch's t-test over the seeds)."""

from __future__ import annotations

from typing import Any

from fashionlab import metrics
from fashionlab.i18n import _
from fashionlab.keys import short_key
from fashionlab.results import Comparison, Results, Setting, Verdict, cell
from fashionlab.views.compare import header_words, layer_cells
from fashionlab.views.fit import Col

SHOWN = ("test_accuracy", "test_loss", "best_val_accuracy", "max_val_accuracy", "best_epoch", "seconds")
HEADERS = {"test_accuracy": "test acc", "test_loss": "test loss", "best_val_accuracy": "val_acc at best",
           "max_val_accuracy": "max val_acc", "best_epoch": "best epoch", "seconds": "time"}  # fmt: skip


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


def versus_text(found: Comparison | None) -> str:
    """The 'vs best' cell: the difference and its verdict, with p or the reason it cannot be judged."""
    if found is None:
        return "-"
    from fashionlab.views.observations import verdict_word

    p = f", {metrics.p_text(found.p)}" if found.p is not None else ""
    if found.verdict == Verdict.CANNOT_JUDGE:
        return _("{diff} cannot judge (1 seed)").format(diff=f"{found.diff:+.4f}")
    if found.verdict == Verdict.IDENTICAL:
        return verdict_word(found.verdict)
    if found.verdict == Verdict.INCONCLUSIVE:
        agree = _(", {k}/{n} seeds").format(k=found.agree[0], n=found.agree[1]) if found.agree else ""
        return f"{found.diff:+.4f} {verdict_word(found.verdict)}{p}{agree}"
    return f"{found.diff:+.4f} {verdict_word(found.verdict)}{p}"


def grouped_columns(res: Results) -> list[Col]:
    """Columns of the table of settings: what differs, n, mean ± sd of the metrics, vs best."""
    groups, sort = res.settings, res.sort
    keys = list(groups[0].values) if groups else []
    versus = {c.a: c for c in res.comparisons}
    ranked = res.best_setting is not None
    star = ["★ " if i == 0 and ranked else "  " for i in range(len(groups))]
    if len(keys) == 1:  # one key: its value says the setting
        first = Col(keys[0], short_key(keys[0]), 0, "left",
                    cells=[m + cell(s.values[keys[0]]) for m, s in zip(star, groups, strict=True)])  # fmt: skip
    else:  # the setting's label (what sets it apart, or its name), wrapped: the numbers come next, not its keys
        labels = [m + (s.describe() if keys else _("all runs")) for m, s in zip(star, groups, strict=True)]
        first = Col("setting", _("setting"), 0, "left", max_width=28, cells=labels)
    cols = [first]
    # each key's own column gives way before any metric (the label already says it): --wide shows them
    cols += [Col(k, short_key(k), 20 + i, "left", cells=[cell(s.values[k]) for s in groups])
             for i, k in enumerate(keys if len(keys) > 1 else []) if not k.startswith("layers.")]  # fmt: skip
    if len(keys) > 1 and any(k.startswith("layers.") for k in keys):  # the layer lists' diff, not layers.N by index
        cols.append(Col("layers", _("layers\nvs 1st row"), 19, "left", cells=layer_cells([s.runs[0] for s in groups]),
                        max_width=36))  # fmt: skip
    cols.append(Col("n", "n", 1, cells=[str(len(s.runs)) for s in groups]))
    shown = [sort, *(m for m in SHOWN if m != sort)]
    for i, metric in enumerate(shown):
        header = header_words(HEADERS.get(metric, metric)).replace(" ", "\n", 1)
        cells = [_spread(s, metric) for s in groups]
        cols.append(Col(metric, header, 2 + i, style="bold" if metric == sort else None, cells=cells))
        if i == 0 and ranked:  # no vs best where nothing is ranked (runs of different tasks)
            top = _("best")
            cells = [top if j == 0 else versus_text(versus.get(s.describe())) for j, s in enumerate(groups)]
            header = _("vs best") + "\n" + header_words(HEADERS.get(sort, sort))
            cols.append(Col("vs_best", header, 2.5, cells=cells, max_width=22))
    return cols


def grouped_records(res: Results, with_runs: bool = True) -> list[dict[str, Any]]:
    """One record per setting (for json, csv, md): its values, n, mean, sd, min, max of each metric, and
    its comparison with the best (difference, CI, p, verdict)."""
    out = []
    versus = {c.a: c for c in res.comparisons}
    for i, setting in enumerate(res.settings):
        record: dict[str, Any] = dict(setting.values)
        record["n"] = len(setting.runs)
        for metric in SHOWN if res.sort in SHOWN else (res.sort, *SHOWN):
            found = setting.numbers(metric)
            mean, sd = metrics.mean_sd(found) if found else (None, None)
            record.update({f"{metric}_mean": mean, f"{metric}_sd": sd,
                           f"{metric}_min": min(found) if found else None,
                           f"{metric}_max": max(found) if found else None})  # fmt: skip
        test = versus.get(setting.describe())
        record["vs_best"] = ("best" if res.best_setting else None) if i == 0 else (str(test.verdict) if test else None)
        for key in ("diff", "low", "high", "p", "seeds_needed"):
            record[f"vs_best_{key}"] = getattr(test, key) if test else None
        record["vs_best_agree"] = list(test.agree) if test and test.agree else None
        if with_runs:
            record["runs"] = [r.run for r in setting.runs]
        out.append(record)
    return out


def grouped_cells(res: Results) -> list[dict[str, str]]:
    """The table of settings as formatted cells under one-line headers (for a report)."""
    from fashionlab.views.compare import cell_words, header_words

    cols = grouped_columns(res)
    return [
        {header_words(c.header.replace("\n", " ")): cell_words(str(c.cells[i]).strip()) for c in cols}
        for i in range(len(res.settings))
    ]


def legend(res: Results) -> str:
    """Under a table of settings: what the star, mean ± sd and the verdicts mean."""
    name = _(HEADERS.get(res.sort, res.sort))
    if res.of("tasks_differ"):
        return _("One row per setting, mean ± sd over its seeds; no ★ and no vs best: the runs do different tasks.")
    if res.best_setting is None:
        return _(
            "One row per setting, mean ± sd over its seeds; no ★ and no vs best: no setting has a {name} "
            "(its runs diverged or failed)."
        ).format(name=name)
    return _(
        "One row per setting, mean ± sd over its seeds; ★ best mean {name}. vs best: the difference from ★, "
        "Welch's t-test over the seeds: better or worse where p < 0.05, else inconclusive with this many seeds "
        "(k/n seeds: in how many paired seeds it points the same way). val_acc at best: at the lowest val_loss."
    ).format(name=name)


def curves_png(runs: list[Any], res: Results | None = None) -> bytes:
    """Learning curves: per setting (mean with a band over its seeds) when runs repeat a setting, else per run."""
    from fashionlab.results import collect
    from fashionlab.views import plots

    res = res or collect(runs)
    if not res.repeated:
        return plots.curves_png(runs, res.labels)
    by_id = {r.id: r for r in runs}
    return plots.settings_curves_png([(s.describe(), [by_id[row.run] for row in s.runs]) for s in res.settings])
