"""What every command shares: the app with its one error wrapper, the consoles, the options, output helpers.

TensorFlow/Keras/JAX are imported only inside the commands that train or load a model, so `--help`,
`runs` and config errors answer at once.
"""

from __future__ import annotations

import errno
import functools
import io
import json
import os
import re
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.console import Console

from fashionlab import __version__, compat
from fashionlab.cli import completion
from fashionlab.cli.completion import any_part, complete_configs, complete_runs, complete_sweeps, values
from fashionlab.cli.console import check_png, err, out, write_png
from fashionlab.cli.usage import HintingCommand, HintingGroup, either, os_error
from fashionlab.errors import ConfigError, FashionlabError, InputError, Interrupted, raise_if_stopped, stop_on_signals
from fashionlab.keys import SORT_KEYS
from fashionlab.store import RunStore, default_runs_dir

F = TypeVar("F", bound=Callable[..., Any])
__all__ = ["check_png", "either", "err", "os_error", "out", "write_png"]  # with the commands' shared options, below
state: dict[str, Any] = {"debug": False, "runs_dir": None}


def flags(message: str) -> str:
    """The library names parameters in backticks (`runs_dir`); the command line calls them --runs-dir."""
    return re.sub(r"`(\w+)`", lambda m: "--" + m.group(1).replace("_", "-"), message)


def handle_errors(fn: F) -> F:
    """Turn a FashionlabError into `Error: ...` lines on stderr and its exit code (a traceback with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            stop_on_signals()
            result = fn(*args, **kwargs)
            raise_if_stopped()  # a signal that could not stop the work where it landed stops the command
            return result
        except FashionlabError as exc:
            if state["debug"]:
                raise
            problems = exc.problems if isinstance(exc, ConfigError) else [str(exc)]
            for problem in problems:
                err.print(f"Error: {flags(problem)}", markup=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
            err.print("Interrupted." if signum == signal.SIGINT else f"Stopped by {signal.Signals(signum).name}.")
            state["stop_reported"] = True
            raise typer.Exit(128 + signum) from None
        except (typer.Exit, typer.Abort):  # a command's own exit code (a sweep with failed trials exits 1)
            raise
        except OSError as exc:  # the machine said no where no library code expected it: its own words
            if state["debug"] or exc.errno is None:
                raise
            err.print(f"Error: {os_error(exc)}", markup=False, soft_wrap=True)
            raise typer.Exit(InputError.exit_code if exc.errno == errno.ENAMETOOLONG else 7) from None
        except Exception as exc:  # a bug or an environment problem: one line, the traceback with --debug
            if state["debug"]:
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            err.print(f"Error: {exc.__class__.__name__}: {first} (run with --debug for the traceback)", markup=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


compat.hide_flag_types()
if os.environ.get("_FASHIONLAB_COMPLETE", "").endswith("bash"):  # only while bash asks for completions
    compat.bash_words_at_equals(completion.anywhere)
elif os.environ.get("_FASHIONLAB_COMPLETE", "").endswith("zsh"):
    compat.zsh_any_part(completion.anywhere)


class App(typer.Typer):
    """A Typer app whose every command runs inside `handle_errors`: one error wrapper for the whole app."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        kwargs.setdefault("cls", HintingCommand)
        register = super().command(*args, **kwargs)

        def decorator(fn: F) -> F:
            register(handle_errors(fn))
            return fn

        return decorator


app = App(
    cls=HintingGroup,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    help="Train Keras classifiers on Fashion-MNIST from small YAML configs, and compare what changed.",
    epilog="Examples: fashionlab train --config configs/adam.yaml epochs=5 · fashionlab predict --index 10",
)


def store() -> RunStore:
    """The runs directory: --runs-dir, else $FASHIONLAB_RUNS, else runs/ (an empty value counts as unset)."""
    return RunStore(Path(state["runs_dir"]) if state["runs_dir"] else default_runs_dir())


def pick_run(ref: str | None, need_model: bool = True) -> Any:
    """The run a command works on: `ref`, or without one the latest completed run (see said_latest)."""
    return store().load(ref, need_model=need_model)


def said_latest(ref: str | None, run: Any) -> None:
    """After a command worked on the latest run without being told which, it says which that was."""
    if ref in (None, "latest"):
        from fashionlab.i18n import _

        err.print(_("Latest completed run: {run}").format(run=run.id), markup=False)


def config_note(*paths: Path | str | None) -> None:
    """Say which file a bare config name (`--config adam`) was read from: this folder's, or the shipped one."""
    from fashionlab.config.shipped import find_config

    for path in paths:
        if path is not None and (note := find_config(path)[1]):
            from fashionlab.i18n import _

            err.print(_("Config: {note}").format(note=note), markup=False)


def advice_lines(configs: list[Any]) -> list[str]:
    """Warnings and notes about valid configs (scores that are not probabilities, one-hot labels), each once."""
    from fashionlab.network import advice

    said = dict.fromkeys(item for config in configs for item in advice(config))
    from fashionlab.i18n import _

    warning, note = _("Warning"), _("Note")
    return [f"{warning if level == 'warning' else note}: {text}." for level, text in said]


def say_advice(configs: list[Any], console: Console | None = None) -> None:
    for line in advice_lines(configs):
        (console or err).print(line, markup=False)


def show_table(table: Any, wide: bool = False) -> None:
    """Print a Rich renderable, or a long listing that views already laid out as plain text. A wide
    table is printed at its own width (the terminal wraps its lines) rather than squeezed."""
    if isinstance(table, str):
        from fashionlab.text import visible

        typer.echo(visible(table, newlines=True))  # a name with ESC in it is shown, never run by the terminal
    elif wide:
        saved = out.width
        out.width = max(saved, rendered_width(table))  # print's own width= cannot exceed the console's
        try:
            out.print(table, crop=False)
        finally:
            out.width = saved
    else:
        out.print(table)


def rendered_width(renderable: Any) -> int:
    """The widest line `renderable` draws when nothing limits it."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=10_000, color_system=None, legacy_windows=False)
    console.print(renderable, crop=False)
    return max((len(line.rstrip()) for line in buffer.getvalue().splitlines()), default=0)


def emit_json(data: Any) -> None:
    """JSON on stdout: indented for a person at a terminal; compact into a pipe or file, where Python's C
    encoder writes the JSON of 20,000 runs several times faster (it does not indent)."""
    indent = 2 if sys.stdout.isatty() else None
    try:  # most data has no NaN: encoded as it is, without a Python walk over every number first
        text = json.dumps(data, indent=indent, default=_plain, allow_nan=False)
    except ValueError:  # JSON has no NaN: such a number is null
        from fashionlab.metrics import finite

        text = json.dumps(finite(data), indent=indent, default=_plain, allow_nan=False)
    typer.echo(text)


def _plain(value: Any) -> Any:
    """What json cannot encode by itself: numpy's numbers as numbers (a NaN raises, and is made null), the
    rest (paths, dates) as text."""
    if hasattr(value, "dtype") and getattr(value, "shape", None) == ():
        return value.item()
    return str(value)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"fashionlab {__version__}")
        raise typer.Exit()


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML config (see configs/). Default: the TensorFlow tutorial model.",
        shell_complete=complete_configs,
    ),
]
ConfigsOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--config", "-c", help="A config file; repeat to make configs an axis.", shell_complete=complete_configs
    ),
]
Overrides = Annotated[
    list[str] | None,
    typer.Argument(
        help="Overrides key=value: epochs=5, lr=0.01, optimizer=sgd, layers.1.units=64, optimizer.momentum=0.9",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON instead of tables.")]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force", help="Replace an output file or folder that fashionlab did not make (never a link or device)."
    ),
]
RunArg = Annotated[
    str | None,
    typer.Argument(
        help="Run id, a unique part of it, or 'latest' (default).",
        show_default=False,
        shell_complete=any_part(complete_runs),
    ),
]
RunsArg = Annotated[
    list[str] | None,
    typer.Argument(help="Run ids or unique parts. Default: every run.", shell_complete=any_part(complete_runs)),
]
SweepOpt = Annotated[
    str | None,
    typer.Option("--sweep", help="The trials of this sweep or search.", shell_complete=any_part(complete_sweeps)),
]
SortOpt = Annotated[
    str,
    typer.Option(
        "--sort",
        help=f"Order rows by this metric, best first: {', '.join(SORT_KEYS)}.",
        autocompletion=values(*SORT_KEYS),
    ),
]
RAY, TRACKING, ADVANCED = "Ray (--executor ray)", "Tracking", "Advanced"  # --help's panels below the options
FormatOpt = Annotated[Literal["table", "csv", "md", "json"], typer.Option("--format", help="How to show them.")]
AllColumnsOpt = Annotated[
    bool, typer.Option("--all-columns", help="Show every config key, not just those that differ.")
]
MlflowOpt = Annotated[
    bool,
    typer.Option(
        "--mlflow",
        help="Also log the run(s) to MLflow: params, per-epoch metrics, figures, model.",
        rich_help_panel=TRACKING,
    ),
]
MlflowUriOpt = Annotated[
    str | None,
    typer.Option(
        "--mlflow-uri",
        help="MLflow tracking URI. Default: $MLFLOW_TRACKING_URI or sqlite:///mlflow.db.",
        rich_help_panel=TRACKING,
    ),
]


def render_comparison(runs: list[Any], view: Comparison, title: str, axes: list[str] | None = None) -> None:
    """The comparison of `runs` as a table that fits the terminal, JSON, CSV or Markdown on stdout."""
    from fashionlab.results import collect
    from fashionlab.views import compare

    fmt = "json" if view.as_json else view.fmt
    compare.check_format(fmt)
    res = collect(runs, view.sort, axes)  # the sort was checked when the Comparison was made, before training
    keys = compare.compare_columns(res.runs, view.all_columns, axes)
    if res.repeated and not view.per_seed:
        render_settings(res, fmt, view, title, keys)
        return
    if fmt == "json":
        emit_json(compare.comparison_json(res, keys))
    elif fmt in ("csv", "md"):
        records = compare.compare_records(res.runs, keys)
        typer.echo((compare.records_csv if fmt == "csv" else compare.records_markdown)(records), nl=False)
    else:
        chosen = None
        if view.columns:
            every = list(dict.fromkeys(k for r in res.runs for k in r.config))
            chosen = compare.resolve_columns(view.columns, every)
            keys += [k for k in chosen if k in every and k not in keys]
        width = None if view.wide else out.width
        table, dropped = compare.compare_table(res, keys, title, width, axes, chosen)
        show_table(table, view.wide)
        left_out(dropped, width)
        said_findings(res)
        out.print(compare.legend(res), style="dim", markup=False)


def said_findings(res: Any) -> None:
    """Under a table: the findings a reader must not miss (different tasks or losses, chance level)."""
    from fashionlab.views.observations import finding_text

    for found in res.findings:
        if found.kind in (
            "tasks_differ",
            "losses_differ",
            "chance",
            "confounded",
            "not_a_grid",
            "trained_again",
            "optimizer_settings",
            "chance_in_mean",
        ):
            out.print(finding_text(found), style="yellow", markup=False)


def render_settings(res: Any, fmt: str, view: Comparison, title: str, keys: list[str]) -> None:
    """Runs grouped by setting: n, mean ± sd, and each setting against the best (Welch's t-test)."""
    from fashionlab.i18n import _
    from fashionlab.views import compare, groups

    if fmt == "json":
        emit_json(compare.comparison_json(res, keys, groups.grouped_records(res)))
    elif fmt in ("csv", "md"):
        records = groups.grouped_records(res, with_runs=False)
        typer.echo((compare.records_csv if fmt == "csv" else compare.records_markdown)(records), nl=False)
    else:
        from fashionlab.views.fit import choose, fit, plain
        from fashionlab.views.tables import PLAIN_ABOVE

        width = None if view.wide else out.width
        cols, heading = groups.grouped_columns(res), _("{title}: one row per setting").format(title=title)
        table: Any
        if len(res.settings) > PLAIN_ABOVE:  # plain aligned text: Rich tables cost ~0.5 ms a row
            shown = choose(cols, width, wraps=False)
            table, dropped = plain(shown, heading), [c for c in cols if c not in shown]
        else:
            table, dropped = fit(cols, width, heading)
        show_table(table, view.wide)
        left_out(dropped, width, "--wide, --per-seed or --format csv|md|json")
        said_findings(res)
        from fashionlab.i18n import _

        out.print(groups.legend(res) + " " + _("--per-seed shows every run."), style="dim", markup=False)


def left_out(
    dropped: list[Any], width: int | None, how: str = "--wide, --columns a,b,c or --format csv|md|json"
) -> None:
    """The footer under a table that had to leave columns out, saying how to see them."""
    if dropped:
        from fashionlab.i18n import _
        from fashionlab.views.fit import names

        out.print(
            _("Not shown at {width} columns: {names} (see them with {how}).").format(
                width=width, names=names(dropped), how=how.replace(" or ", " " + _("or") + " ")
            ),
            style="dim",
            markup=False,
        )


@dataclass
class Comparison:
    """How the user asked to see a comparison (the options every comparing command shares)."""

    sort: str = "test_accuracy"  # a metric key: compare.check_sort's answer
    fmt: str = "table"
    all_columns: bool = False
    wide: bool = False
    columns: str | None = None
    as_json: bool = False
    per_seed: bool = False


PerSeedOpt = Annotated[
    bool, typer.Option("--per-seed", help="One row per run, not per setting (runs that differ only in seed).")
]
RepeatsOpt = Annotated[
    int | None,
    typer.Option("--repeats", min=1, max=100, help="Run each setting with this many seeds: seed, seed+1, ..."),
]
WideOpt = Annotated[bool, typer.Option("--wide", help="Every column and full run ids, however wide the terminal is.")]
ColumnsOpt = Annotated[
    str | None,
    typer.Option(
        "--columns", help="The columns to show, in order: metrics (test_acc, best_epoch, ...) and config keys."
    ),
]


def tracking_uri(enabled: bool, uri: str | None) -> str | None:
    """--mlflow [--mlflow-uri URI] as the tracking URI to log to (None: not logging)."""
    if not enabled:
        return None
    from fashionlab.experiments import tracking

    return uri or tracking.default_uri()
