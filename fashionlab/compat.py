"""Every use of another package's private API, in one place, each checked against the versions it was
written for (tests/test_compat.py has a test per use).

A use outside its tested versions falls back to what the package does on its own (slower, or a noisier
help page, never wrong); `fashionlab doctor`-style checks can list them with `untested()`. Each function
imports what it touches inside itself, so importing this module costs nothing (it is the one module
outside cli/ and experiments/ allowed to import Ray, Optuna and Typer: tests/test_layout.py). Keras's
private APIs are used in engine/keras_shims.py, the one place, checked against this table.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

# use -> (distribution, lowest tested version, first major version not tested)
TESTED: dict[str, tuple[str, tuple[int, ...], int]] = {
    "typer.no_such_option": ("typer", (0, 24), 1),  # typer._click.exceptions.NoSuchOption
    "typer.flag_types": ("typer", (0, 24), 1),  # TyperOption.display_type_rich
    "typer.choices": ("typer", (0, 25), 1),  # TyperOption.get_runtime_param().annotation
    "typer.bash_words": ("typer", (0, 24), 1),  # typer._completion_classes.BashComplete.get_completion_args
    "typer.zsh_words": ("typer", (0, 24), 1),  # typer._completion_classes.ZshComplete.get_completion_args
    "keras.tensorflow_absent": ("keras", (3, 10), 4),  # module_utils.tensorflow._available (engine/keras_shims.py)
    "ray.no_cluster": ("ray", (2, 40), 3),  # ray._private.ray_constants.ENABLE_RAY_CLUSTER
    "optuna.trial_id": ("optuna", (4, 0), 6),  # FrozenTrial._trial_id, for storage calls
    "atexit.run": ("python", (3, 11), 4),  # atexit._run_exitfuncs
}


def _version(distribution: str) -> tuple[int, ...] | None:
    if distribution == "python":
        return tuple(sys.version_info[:2])
    loaded = getattr(sys.modules.get(distribution), "__version__", None)  # no metadata lookup for what is loaded
    if isinstance(loaded, str):
        text = loaded
    else:
        from importlib import metadata

        try:
            text = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            return None
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def supported(use: str) -> bool:
    """Whether the installed version of the package is one `use` was written and tested for."""
    distribution, lowest, major_after = TESTED[use]
    found = _version(distribution)
    return found is not None and lowest <= found and found[0] < major_after


def untested() -> list[str]:
    """The uses whose package is installed at a version outside the tested range."""
    return [use for use, (dist, _, _) in TESTED.items() if _version(dist) is not None and not supported(use)]


# ---------------------------------------------------------------------------------------------- typer


def no_such_option() -> Any:
    """Click's NoSuchOption as Typer raises it (typer >= 0.24 carries its own click)."""
    if supported("typer.no_such_option"):
        with contextlib.suppress(ImportError):
            from typer._click.exceptions import NoSuchOption

            return NoSuchOption
    from click.exceptions import NoSuchOption as ClickNoSuchOption

    return ClickNoSuchOption


def bad_parameter() -> Any:
    """Click's BadParameter as Typer raises it (an invalid choice among them)."""
    if supported("typer.no_such_option"):
        with contextlib.suppress(ImportError):
            from typer._click.exceptions import BadParameter

            return BadParameter
    from click.exceptions import BadParameter as ClickBadParameter

    return ClickBadParameter


def usage_error() -> Any:
    """Click's UsageError as Typer raises it (a missing argument, an unknown option or command)."""
    if supported("typer.no_such_option"):
        with contextlib.suppress(ImportError):
            from typer._click.exceptions import UsageError

            return UsageError
    from click.exceptions import UsageError as ClickUsageError

    return ClickUsageError


def choices_of(param: Any) -> list[str] | None:
    """The values a Literal- or Enum-typed parameter takes, from the annotation Typer coerces it by (its
    click type carries none since typer 0.25 validates with pydantic); None for any other parameter."""
    import enum
    import typing

    if not supported("typer.choices"):
        return None
    try:
        annotation = param.get_runtime_param().annotation
    except Exception:
        return None
    if typing.get_origin(annotation) is typing.Literal:
        return [str(value) for value in typing.get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(member.value) for member in annotation]
    return None


def hide_flag_types() -> bool:
    """Help shows no `<bool>` beside an on/off flag (typer >= 0.24 labels every option with its type).
    True when done; an untested Typer keeps its own labels."""
    from typer.core import TyperOption

    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or not supported("typer.flag_types"):
        return False

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if getattr(self, "is_flag", False) else original(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
    return True


Extra = Callable[[list[str], str], "list[str] | None"]  # (words before, typed) -> values, None: the app's


def bash_words_at_equals(extra: Extra | None = None) -> bool:
    """Bash completion of words holding `=` (every sweep run id, every key=value): bash splits the words it
    passes at each character of COMP_WORDBREAKS, `=` among them, so `tutorial-optimizer=ad` reaches the
    program as three words and its answer replaces only `ad`. This joins the words back before completing
    and answers with what follows the last `=` typed; `extra` answers first where it knows (an option
    the command line takes anywhere). True when installed."""
    if not supported("typer.bash_words"):
        return False
    try:
        from typer._click.shell_completion import add_completion_class
        from typer._completion_classes import BashComplete
    except ImportError:
        return False

    class JoinedBashComplete(BashComplete):  # type: ignore[misc]
        def get_completion_args(self) -> tuple[list[str], str]:
            import os

            words, cword = join_at_equals(os.environ["COMP_WORDS"], int(os.environ["COMP_CWORD"]))
            self._typed = words[cword] if cword < len(words) else ""
            self._raw_current = _raw_word(os.environ["COMP_WORDS"], int(os.environ["COMP_CWORD"]))
            return words[1:cword], self._typed

        def complete(self) -> str:
            args, incomplete = self.get_completion_args()
            values = extra(args, incomplete) if extra else None
            if values is None:
                values = [item.value for item in self.get_completions(args, incomplete)]
            return "\n".join(bash_replies(values, incomplete, self._raw_current))

    _register(add_completion_class, JoinedBashComplete, "bash")
    return True


def zsh_any_part(extra: Extra | None = None) -> bool:
    """zsh completion of ids matched on any part: Typer answers zsh with `_arguments '*: :((values))'`,
    which zsh narrows to the values that begin with the typed word, so `fashionlab evaluate b976` offered
    nothing. Values that all begin with it keep Typer's answer (with their help); otherwise they are
    given to `compadd -U`, which puts them in place of the typed word. `extra` as for bash."""
    if not supported("typer.zsh_words"):
        return False
    try:
        from typer._click.shell_completion import add_completion_class
        from typer._completion_classes import ZshComplete
    except ImportError:
        return False

    class AnyPartZshComplete(ZshComplete):  # type: ignore[misc]
        def complete(self) -> str:
            args, incomplete = self.get_completion_args()
            values = extra(args, incomplete) if extra else None
            if values is None:
                items = self.get_completions(args, incomplete)
                values = [item.value for item in items]
                if values and all(v.startswith(incomplete) for v in values):
                    listed = "\n".join(self.format_completion(item) for item in items)
                    return f"_arguments '*: :(({listed}))'"
            if not values:
                return "_files"
            return "compadd -U -- " + " ".join(zsh_quote(v) for v in values)

    _register(add_completion_class, AnyPartZshComplete, "zsh")
    return True


def zsh_quote(word: str) -> str:
    """One word for zsh's eval of the completion answer, in single quotes."""
    return "'" + word.replace("'", "'\\''") + "'"


def _register(add_completion_class: Any, cls: Any, shell: str) -> None:
    import typer.completion

    original = typer.completion.completion_init  # Typer registers its shells again as it builds the command

    def completion_init() -> None:
        original()
        add_completion_class(cls, shell)

    typer.completion.completion_init = completion_init
    add_completion_class(cls, shell)


def _raw_word(comp_words: str, cword: int) -> str:
    from typer._click.shell_completion import split_arg_string

    words = split_arg_string(comp_words)
    return words[cword] if cword < len(words) else ""


def join_at_equals(comp_words: str, cword: int) -> tuple[list[str], int]:
    """Bash's words (split at `=`) joined back into the command's words, and the index of the word being
    completed among them: `a = b` becomes `a=b`."""
    from typer._click.shell_completion import split_arg_string

    raw = split_arg_string(comp_words)
    words: list[str] = []
    current = len(raw)  # past the end: a new word
    glue = False  # the last word ends with `=`: the next one is part of it
    for i, word in enumerate(raw):
        if words and (word == "=" or glue):
            words[-1] += word
        else:
            words.append(word)
        glue = word == "=" or (glue and word.endswith("="))
        if i == cword:
            current = len(words) - 1
    if cword >= len(raw):  # a new word, unless the last one ends with `=` (its value is being started)
        current = len(words) - 1 if glue and raw else len(words)
    return words, current


def bash_replies(values: list[str], typed: str, raw_current: str) -> list[str]:
    """The completions as bash inserts them: bash replaces only the piece after the last `=` (or the `=`
    itself when that is the piece), so each reply starts there. A value of `--option=value` is the value
    alone (click completes after the option's `=`); replies that do not begin with what was typed before
    the last `=` (a match in the middle of an id) cannot be inserted and are left out."""
    if "=" not in typed:
        return values
    cut = typed.rfind("=") + 1
    option = typed.partition("=")[0] + "=" if typed.startswith("-") else ""
    lead = "=" if raw_current == "=" else ""
    out = []
    for value in values:
        word = value if value.startswith(typed[:cut]) else option + value
        if word.startswith(typed[:cut]):
            out.append(lead + word[cut:])
    return out


# ------------------------------------------------------------------------------------------ imports


@contextlib.contextmanager
def modules_hidden(names: tuple[str, ...]) -> Iterator[None]:
    """Inside the block, `import name` raises ImportError for each of `names` not yet imported (the
    import system's documented None entry in sys.modules); afterwards they import as usual."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hidden:
            sys.modules.pop(name, None)


# ------------------------------------------------------------------------------------------ ray, optuna


def ray_single_machine(ray: Any) -> bool:
    """A local Ray instance listens on loopback only: Ray's own switch, read when Ray was imported (the
    environment variable RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 covers an import after this)."""
    if not supported("ray.no_cluster"):
        return False
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    if constants is None or not hasattr(constants, "ENABLE_RAY_CLUSTER"):
        return False
    constants.ENABLE_RAY_CLUSTER = False
    return True


def optuna_trial_id(trial: Any) -> int:
    """The storage id of a FrozenTrial (what Optuna's storage methods take; its public API has none)."""
    if not supported("optuna.trial_id") or not hasattr(trial, "_trial_id"):
        found = _version("optuna")
        raise RuntimeError(f"this Optuna ({found}) is not one fashionlab was tested with; use optuna 4 or 5")
    return int(trial._trial_id)


# ---------------------------------------------------------------------------------------------- python


def run_exit_handlers() -> None:
    """What Python's exit runs of atexit (handlers registered by fashionlab's libraries), before an
    os._exit that skips the teardown of JAX's modules."""
    import atexit

    if supported("atexit.run") and hasattr(atexit, "_run_exitfuncs"):
        atexit._run_exitfuncs()
