"""The Data page's generated assets: example images per class and the class counts of each split."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch

from .. import figures
from ..data import Splits
from .plan import DATASET_TITLES
from .tables import Column, outputs, write_table

EXAMPLES_PER_CLASS = 10
SPLITS = ("train", "val", "test")


def output_names(datasets: Iterable[str]) -> list[str]:
    """The files the Data page's assets are, for `datasets` (relative to the assets folder): known
    before any training, so that the report refuses at once to replace a user's own file."""
    return list(outputs(tables=("class_counts",), figures=[f"examples_{dataset}.png" for dataset in datasets]))


def class_examples_figure(dataset: str, splits: Splits, figures_dir: Path) -> Path:
    """figures/examples_<dataset>.png: the first test images of each class, one row per class."""
    rows = {f"{index}: {name}" if name != str(index) else name:
            splits.test_x[(splits.test_y == index).nonzero()[:EXAMPLES_PER_CLASS, 0]]
            for index, name in enumerate(splits.classes)}
    return figures.plot_class_examples(rows, figures_dir / f"examples_{dataset}.png",
                                       f"{DATASET_TITLES[dataset]}: first test images of each class")


def class_counts_table(loaded: dict[str, Splits], tables_dir: Path) -> list[Path]:
    """tables/class_counts: one row per class index, the count of each dataset's train/val/test split."""
    columns = [Column("class", "class", "count")]
    rows = [{"class": index} for index in range(max(len(s.classes) for s in loaded.values()))]
    for dataset, splits in loaded.items():
        title = DATASET_TITLES[dataset]
        if any(name != str(i) for i, name in enumerate(splits.classes)):
            columns.append(Column(f"{dataset}_name", title))
        for split in SPLITS:
            counts = torch.bincount(getattr(splits, f"{split}_y").cpu(), minlength=len(splits.classes)).tolist()
            for row, count in zip(rows, counts):
                row[f"{dataset}_{split}"] = count
            columns.append(Column(f"{dataset}_{split}", f"{title} {split}", "count"))
        for row, name in zip(rows, splits.classes):
            row[f"{dataset}_name"] = name
    return write_table(tables_dir, "class_counts", rows, columns)
