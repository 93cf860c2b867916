"""The runs directory: the only code that knows its file and folder names.

RunStore (create, list, load, lock, records), Run (one directory), RunStatus, and the typed trial
outcomes and sweep/search records with their one reader and writer.
"""

from fashionlab.store.files import cache_dir, default_runs_dir, write_atomic
from fashionlab.store.info import RunInfo
from fashionlab.store.records import SweepRecord, TrialOutcome
from fashionlab.store.run import Run, RunStatus, now, read_run
from fashionlab.store.store import RunStore, Selection

__all__ = [
    "Run",
    "RunInfo",
    "RunStatus",
    "RunStore",
    "Selection",
    "SweepRecord",
    "TrialOutcome",
    "cache_dir",
    "default_runs_dir",
    "now",
    "read_run",
    "write_atomic",
]
