"""The comparison with pytorch/examples' `vae/main.py` (an MLP 784-400-20 VAE), run from a copy
of that repository kept outside the project (`python -m vae bench --examples-dir PATH`).

Both programs train the same model for the same epochs, one after the other, each as its own
process timed from start to exit; each one's test -ELBO is read from its own output (theirs:
the last "Test set loss" line; ours: metrics.json). Nothing of their code is copied here.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..plumbing import artifacts
from .timing import time_program

EXAMPLES_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
TEST_LOSS = re.compile(r"Test set loss:\s*([0-9.]+)")


def compare_with_examples(examples_dir: str | Path, data_dir: str | Path, epochs: int = 10,
                          timeout_s: float = 1800.0) -> dict[str, Any]:
    """Wall time and test -ELBO of their vae/main.py and of `python -m vae train` with the same
    MLP, batch and epochs, on the CPU; `speedup` is their wall time over ours."""
    script = Path(examples_dir) / "vae" / "main.py"
    if not script.is_file():
        return {"speedup": None, "reason": f"{script} not found; give --examples-dir a copy of pytorch/examples"}
    with tempfile.TemporaryDirectory(prefix="bench-examples-") as scratch:
        root = Path(scratch)
        run_dir = root / "run"                  # their script reads ../data and writes results/
        (run_dir / "results").mkdir(parents=True)
        raw = root / "data" / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name in EXAMPLES_MNIST_FILES:
            os.symlink(Path(data_dir, "MNIST", "raw", name).resolve(), raw / name)
        no_accelerator = "--no-accel" if "--no-accel" in script.read_text() else "--no-cuda"
        theirs = time_program([sys.executable, str(script.resolve()), "--epochs", str(epochs), no_accelerator],
                        run_dir, timeout_s)
        if theirs.get("reason") is None:
            found = TEST_LOSS.findall(theirs.pop("stdout"))
            theirs["test_elbo"] = float(found[-1]) if found else None
        ours_out = root / "ours"
        ours = time_program([sys.executable, "-m", "vae", "train", "--arch", "mlp", "--hidden", "400", "--latent-dim", "20",
                       "--batch-size", "128", "--epochs", str(epochs), "--device", "cpu",
                       "--data-dir", str(Path(data_dir).resolve()), "--out", str(ours_out)], run_dir, timeout_s,
                      env={"PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                                       os.environ.get("PYTHONPATH")]))})
        if ours.get("reason") is None:
            ours.pop("stdout")
            ours["test_elbo"] = artifacts.read_json(ours_out / "metrics.json")["test"]["elbo"]
    result = {"model": "MLP 784-400-20", "epochs": epochs, "batch_size": 128, "examples": theirs, "project": ours}
    if theirs.get("wall_s") and ours.get("wall_s"):
        result["speedup"] = theirs["wall_s"] / ours["wall_s"]
        result["test_elbo_difference"] = (ours["test_elbo"] - theirs["test_elbo"]
                                          if ours.get("test_elbo") is not None and theirs.get("test_elbo") is not None
                                          else None)
        result["reason"] = None
    else:
        result["speedup"] = None
        result["reason"] = theirs.get("reason") or ours.get("reason")
    return result
