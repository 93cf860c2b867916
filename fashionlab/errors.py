"""Errors a user can cause, each with the exit code the CLI gives it.

The library raises these and never prints or exits; the CLI turns them into one line on stderr.
A message names the Python parameter it is about in backticks (`index`, `runs_dir`); the CLI shows
each as its command-line flag (--index, --runs-dir).
"""


class FashionlabError(Exception):
    """Something the user can fix. The message says what is wrong and what to do."""

    exit_code = 1


class ConfigError(FashionlabError):
    """A config file or override is wrong. Carries every problem found, not just the first."""

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class DataError(FashionlabError):
    """The Fashion-MNIST files are missing or do not verify."""

    exit_code = 3


class RunNotFound(FashionlabError):
    """A run id (or 'latest') names no run in the runs directory."""

    exit_code = 4


class RunError(FashionlabError):
    """A run directory exists but cannot be used (broken files, wrong model, ...)."""

    exit_code = 5


class InputError(FashionlabError):
    """A command-line argument is out of range or names a file that cannot be read."""

    exit_code = 6


class StorageError(FashionlabError):
    """The runs directory cannot be written (read-only, full, not a directory)."""

    exit_code = 7
