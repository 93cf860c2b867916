"""One test per use of another package's private API (fashionlab/compat.py): each still does what it is
for with the versions installed, and a version outside the tested range is recognised."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from fashionlab import compat
from fashionlab.cli import app


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_use_is_tested_with_the_installed_versions() -> None:
    assert compat.untested() == []


def test_a_version_outside_the_tested_range_is_not_supported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(compat.TESTED, "typer.flag_types", ("typer", (99, 0), 100))
    assert not compat.supported("typer.flag_types") and "typer.flag_types" in compat.untested()
    monkeypatch.setitem(compat.TESTED, "typer.flag_types", ("no-such-distribution", (0,), 1))
    assert not compat.supported("typer.flag_types") and "typer.flag_types" not in compat.untested()


def test_typer_no_such_option_is_what_typer_raises() -> None:
    result = CliRunner().invoke(app, ["train", "--epochs", "5"])
    assert result.exit_code == 6 and "Config keys are set as key=value: epochs=5" in result.output
    assert compat.no_such_option().__name__ == "NoSuchOption"


def test_typer_flags_show_no_type_in_help() -> None:
    assert compat.hide_flag_types()
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    line = next(x for x in result.output.splitlines() if "--json" in x)
    assert "BOOLEAN" not in line.upper() and "<bool>" not in line


def test_bash_words_split_at_equals_are_joined_and_replies_start_after_the_last_equals() -> None:
    # bash's words for `evaluate tutorial-lr=0.001,optimizer=ad` (COMP_WORDBREAKS holds `=`), and for `--sort=`
    assert compat.join_at_equals("fashionlab evaluate tutorial-lr = 0.001,optimizer = ad", 6) == (
        ["fashionlab", "evaluate", "tutorial-lr=0.001,optimizer=ad"],
        2,
    )
    assert compat.join_at_equals("fashionlab compare --sort =", 3) == (["fashionlab", "compare", "--sort="], 2)
    assert compat.join_at_equals("fashionlab evaluate x", 3) == (["fashionlab", "evaluate", "x"], 3)
    ids = ["tutorial-lr=0.001,optimizer=adam", "tutorial-lr=0.001,optimizer=sgd", "other-optimizer=adam"]
    assert compat.bash_replies(ids, "tutorial-lr=0.001,optimizer=ad", "ad") == ["adam", "sgd"]  # click filters later
    assert compat.bash_replies(["test_loss"], "--sort=te", "te") == ["test_loss"]
    assert compat.bash_replies(["test_loss"], "--sort=", "=") == ["=test_loss"]
    assert compat.bash_replies(ids, "tutorial", "tutorial") == ids
    assert compat.bash_words_at_equals()  # installed over Typer's own bash completion (tests/test_ecosystem.py)


def test_keras_is_told_tensorflow_is_absent_and_hidden_modules_import_afterwards() -> None:
    out = run_python(
        "import sys\n"
        "from fashionlab.engine.backend import use_backend\n"
        "use_backend('jax')\n"
        "from keras.src.utils import module_utils\n"
        "print(module_utils.tensorflow._available, 'tensorflow' in sys.modules, 'sklearn' in sys.modules)\n"
        "import sklearn\n"  # hidden only while Keras imported
        "print('sklearn' in sys.modules)\n"
    )
    assert out.split() == ["False", "False", "False", "True"]


def test_modules_hidden_raise_import_error_inside_the_block() -> None:
    with compat.modules_hidden(("fashionlab_never_imported_module", "sys")):
        with pytest.raises(ImportError):
            import fashionlab_never_imported_module  # type: ignore[import-not-found]  # noqa: F401
        assert sys.modules["sys"] is sys  # an imported module stays as it is
    assert "fashionlab_never_imported_module" not in sys.modules


def test_ray_single_machine_switch() -> None:
    out = run_python(
        "import ray\n"
        "from fashionlab import compat\n"
        "print(compat.ray_single_machine(ray), ray._private.ray_constants.ENABLE_RAY_CLUSTER)\n"
    )
    assert out.split() == ["True", "False"]


def test_optuna_trial_id_is_what_its_storage_takes() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    for value in (3.0, 1.0):
        trial = study.ask()
        study.tell(trial, value)
    for frozen in study.get_trials(deepcopy=False):
        assert storage.get_trial(compat.optuna_trial_id(frozen)).number == frozen.number


def test_run_exit_handlers_runs_them_before_os_exit() -> None:
    out = run_python(
        "import atexit, os, sys\n"
        "from fashionlab import compat\n"
        "atexit.register(lambda: print('handler ran'))\n"
        "compat.run_exit_handlers()\n"
        "sys.stdout.flush()\n"
        "os._exit(0)\n"
    )
    assert out.strip() == "handler ran"
