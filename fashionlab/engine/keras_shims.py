"""Every use of Keras's private API, in one place, each checked against the Keras versions it was
written for (fashionlab.compat.TESTED; tests/test_compat.py has a test per use). Outside them the
public way is taken (slower, never wrong)."""

from __future__ import annotations

from typing import Any

from fashionlab.compat import supported


def keras_without_tensorflow() -> bool:
    """Tell Keras's lazy loader TensorFlow is absent: Keras probes for it (seeding, saving) whenever it
    is installed, ~3 s of import on a JAX or torch run that never uses it. True when done."""
    if not supported("keras.tensorflow_absent"):
        return False
    from keras.src.utils import module_utils

    lazy = getattr(module_utils, "tensorflow", None)
    if lazy is None or not hasattr(lazy, "_available") or getattr(lazy, "module", None) is not None:
        return False
    lazy._available = False
    return True


def build_for(model: Any, x: Any, y: Any) -> None:
    """Build the model, its optimizer's slots aside, and its compiled loss and metrics for batches like
    (x, y), as `fit` does before its first step (Model._symbolic_build; Keras has no public call for it).
    A Keras without it is refused in one line (pyproject.toml pins the tested versions)."""
    if not hasattr(model, "_symbolic_build"):
        from fashionlab.errors import FashionlabError

        raise FashionlabError(
            "this Keras has no Model._symbolic_build, which fashionlab's training loop needs; install the Keras "
            "version fashionlab was tested with (pip install 'keras>=3.15.1,<3.16')"
        )
    model._symbolic_build(data_batch=(x, y))
