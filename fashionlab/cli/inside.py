"""`fashionlab inside`: the trained network's weights and one image's way through it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from fashionlab.cli.common import (
    ForceOpt,
    JsonOpt,
    RunArg,
    app,
    check_png,
    emit_json,
    out,
    pick_run,
    said_latest,
    write_png,
)
from fashionlab.errors import InputError
from fashionlab.i18n import _, class_word


@app.command()
def inside(
    run: RunArg = None,
    index: Annotated[
        int | None, typer.Option("--index", "-i", help="A test image to follow through the network.")
    ] = None,
    image: Annotated[Path | None, typer.Option("--image", help="A PNG or JPEG to follow through the network.")] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Draw the image's way through the layers to this PNG.")
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights", help="Draw what each first-layer unit looks for (a tiny net: every weight) to this PNG."
        ),
    ] = None,
    best_too: Annotated[bool, typer.Option("--best-too", help="With --weights: the best epoch's beside.")] = False,
    epoch: Annotated[
        str,
        typer.Option(
            "--epoch",
            help="Which epoch's weights: last (default), best, or a kept epoch's number: runs keep epochs 1, 2, "
            "5, 10, 20, 50, ... (`fashionlab ui` shows a slider over them).",
        ),
    ] = "last",
    as_json: JsonOpt = False,
    force: ForceOpt = False,
) -> None:
    """Inside a trained network: each layer's output for one image, the logits, the softmax probabilities and
    the answer (the lab's questions 2, 5 and 6 on your own model), and its weights as pictures.

    Examples: fashionlab inside --index 10 --out inside.png · fashionlab inside RUN --weights w.png --best-too
    """
    from fashionlab import usecases

    if epoch not in ("last", "best") and not epoch.isdigit():
        raise InputError(f"--epoch {epoch} is not known; use last, best or a kept epoch's number such as 5")
    if index is None and image is None and weights is None:
        raise InputError("give --index N or --image FILE (an image to follow), or --weights FILE (the weights drawn)")
    for path in (out_file, weights):
        check_png(path, force)
    found = usecases.inside(pick_run(run), index, str(image) if image else None, epoch, out_file is not None,
                            weights is not None, best_too)  # fmt: skip
    if out_file is not None and found.picture is not None:
        write_png(out_file, found.picture, force)
    if weights is not None and found.weights is not None:
        write_png(weights, found.weights, force)
    if as_json:
        emit_json(found.to_json())
    elif found.found is not None:
        for line in inside_lines(found.found):
            out.print(line, markup=False)
    said_latest(run, found.run)


def inside_lines(found: dict) -> list[str]:  # type: ignore[type-arg]
    """The image's way through the network in words, with its numbers."""
    names = [class_word(n) for n in found["class_names"]]
    lines = []
    for layer in found["layers"]:
        output = np.asarray(layer["output"])
        values = output.reshape(-1)
        if output.ndim == 3:  # feature maps: by channel, their mean over the image
            means = output.reshape(-1, output.shape[-1]).mean(axis=0)
            best = ", ".join(f"{int(c)}: {means[c]:.3f}" for c in np.argsort(-means)[:3])
            line = _("{name} ({kind}): {n} feature maps of {h}x{w}, the most active (mean) {best}").format(
                name=layer["name"],
                kind=layer["kind"],
                n=output.shape[-1],
                h=output.shape[0],
                w=output.shape[1],
                best=best,
            )
        else:
            best = ", ".join(f"{int(u)}: {values[u]:.3f}" for u in np.argsort(-values)[:3])
            line = _("{name} ({kind}): {n} values, the largest {best}").format(
                name=layer["name"], kind=layer["kind"], n=values.size, best=best
            )
        if len(layer["dead"]):
            line += "; " + _("{k} dead units (0 for every training image tried)").format(k=len(layer["dead"]))
        lines.append(line)
    lines.append(
        _("logits: {values}").format(
            values=", ".join(f"{n} {v:.3f}" for n, v in zip(names, found["logits"], strict=True))
        )
    )
    lines.append(
        _("softmax: {values}").format(
            values=", ".join(f"{n} {v:.1%}" for n, v in zip(names, found["probabilities"], strict=True))
        )
    )
    answer = _("argmax: {k} = {name}").format(k=found["predicted"], name=names[found["predicted"]])
    if found.get("true") is not None:
        answer += "; " + _("true class: {name}").format(name=names[found["true"]])
    lines.append(answer)
    return lines
