"""What each command does, once, for the command line and for Python alike: a use case trains or reads,
logs (MLflow, TensorBoard), draws the pictures it promises and says what it found, and returns a typed
result. A command parses its options, calls one of these and renders the result; api.py (notebooks) calls
the same functions, so both behave the same.

    train, resume  -> Trained     one config into a new run (or an interrupted run continued)
    sweep          -> Swept       a plan's trials (train --repeats is a sweep over seeds)
    search         -> Searched    an Optuna study's trials
    data           -> DataView    a data set's summary (a config's classes and size)
    network        -> Network     a config's layers, what its labels and outputs are
    predict        -> Predicted   a run's answer on images, and whether its model is at chance
    report         -> Reported    the lab report of runs or a sweep, written (or as JSON)
    inside         -> Inside      one image through a run's network, its weights drawn
"""

from fashionlab.usecases.reading import (
    DataView,
    Inside,
    Network,
    Predicted,
    Reported,
    data,
    inside,
    network,
    predict,
    predict_many,
    report,
)
from fashionlab.usecases.training import (
    Searched,
    Swept,
    Trained,
    check_mlflow,
    interrupted_sentence,
    resume,
    search,
    sweep,
    train,
)

__all__ = [
    "DataView", "Inside", "Network", "Predicted", "Reported", "Searched", "Swept", "Trained", "check_mlflow",
    "data", "inside", "interrupted_sentence", "network", "predict", "predict_many", "report", "resume", "search",
    "sweep", "train",
]  # fmt: skip
