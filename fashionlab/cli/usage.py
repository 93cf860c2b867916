"""Usage errors said as fashionlab says every error: a config key given as an option (--epochs 5) with the
way to set it, a choice refused in one line, exit code 6 for all of them (README: 2 is a config error);
and an OSError where no library code expected one, as a sentence."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from fashionlab import compat
from fashionlab.cli.console import err
from fashionlab.errors import InputError


def os_error(exc: OSError) -> str:
    """An OSError as a sentence: which file (or the output) and what to do."""
    from fashionlab.text import visible

    what = visible(str(exc.filename)) if exc.filename else "the output"
    if exc.errno == errno.ENAMETOOLONG:
        return f"the file name {what[:60]}... is too long (at most 255 bytes a name); give a shorter one"
    if exc.errno == errno.EBADF and not exc.filename:
        return "the output is closed; run the command with its output going to a terminal, a file or a pipe"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"cannot write {what} ({exc.strerror}); free space, or send the output elsewhere"
    return f"cannot use {what} ({exc.strerror}); check the path and its permissions"


class HintingCommand(TyperCommand):
    """A command whose "No such option: --epochs" says how config keys are set (epochs=5), and whose
    choices (Literal types: Typer validates, completes and lists them in --help) are refused in one line,
    as every other bad input is: `Error: --split val is not known; use train or test` (exit code 6)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        given_args = list(args)  # the parser consumes its list
        with usage_exits_6():
            try:
                return super().parse_args(ctx, args)
            except compat.bad_parameter() as exc:
                choices = compat.choices_of(exc.param)
                if not choices or not getattr(exc.param, "opts", None):
                    raise
                option = exc.param.opts[0]
                given = _after(given_args, option) or "?"
                err.print(f"Error: {option} {given} is not known; use {either(list(choices))}", markup=False)
                raise typer.Exit(InputError.exit_code) from None
            except compat.no_such_option() as exc:
                name = exc.option_name.split("=")[0]
                key = name.lstrip("-").replace("-", "_")
                if key in config_keys():
                    given = exc.option_name.partition("=")[2] or _after(given_args, exc.option_name) or "..."
                    exc.message = f"No such option: {name}. Config keys are set as key=value: {key}={given}"
                    exc.possibilities = None
                raise


class HintingGroup(TyperGroup):
    """The app's group: a usage error before any command (an unknown command, a bad --lang) exits 6."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        with usage_exits_6():
            return super().parse_args(ctx, global_options_first(args))

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        with usage_exits_6():
            return super().resolve_command(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        with usage_exits_6():
            return super().invoke(ctx)


ANYWHERE = ("--lang",)  # the app's options a student may type after the command too: fashionlab data --lang es
WITH_VALUE = ("--lang", "--runs-dir")


def global_options_first(args: list[str]) -> list[str]:
    """`args` with every ANYWHERE option given after the command (and before a `--`) moved before it, where
    Click reads the app's own options."""
    front: list[str] = []
    rest: list[str] = []
    command = False
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if command and arg in ANYWHERE and i + 1 < len(args):
            front += args[i : i + 2]
            i += 2
            continue
        if command and arg.startswith(tuple(f"{o}=" for o in ANYWHERE)):
            front.append(arg)
        else:
            command = command or (not arg.startswith("-") and (i == 0 or args[i - 1] not in WITH_VALUE))
            rest.append(arg)
        i += 1
    return front + rest


@contextlib.contextmanager
def usage_exits_6() -> Iterator[None]:
    """Click's usage errors leave with InputError's exit code (README: 2 is a config error, 6 a bad argument)."""
    try:
        yield
    except compat.usage_error() as exc:
        exc.exit_code = InputError.exit_code
        raise


def either(words: list[str]) -> str:
    """a, b or c"""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _after(args: list[str], option: str) -> str | None:
    """The value given with `option`: --epochs 5 or --epochs=5."""
    joined = next((a.partition("=")[2] for a in args if a.startswith(option + "=")), None)
    if joined:
        return joined
    i = args.index(option) if option in args else -1
    return args[i + 1] if 0 <= i < len(args) - 1 and not args[i + 1].startswith("-") else None


def config_keys() -> set[str]:
    """Keys a config (and so a key=value override) has, with the short names (lr)."""
    from fashionlab.config.overrides import SHORT_NAMES
    from fashionlab.config.schema import Config

    return {*Config.model_fields, *SHORT_NAMES, "momentum", "units", "learning_rate"}
