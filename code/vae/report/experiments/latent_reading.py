"""Reading the reference models: what their 2-D latent planes separate (a k-nearest-neighbour vote,
the classes confused most, footwear against clothing on Fashion-MNIST), the test images they
reconstruct worst, and how many reconstructions keep their class. No runs of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..comparisons import Comparison
from ...config import TrainConfig
from ..plan import Profile, RunSpec
from ..verdicts import Finding, Spread, unmeasured
from ..tables import outputs

ROLES = ()
KNN_NEIGHBOURS = 5
KNN_FOLDS = 5
# Fashion-MNIST's classes by kind: what the 2-D latent space is read for (seed report 002).
FOOTWEAR = ("Sandal", "Sneaker", "Ankle boot")
CLOTHING = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Shirt")
FOOTWEAR_APART, FOOTWEAR_MOSTLY = 0.95, 0.8   # k-NN accuracy of footwear against clothing
DATASETS = ("mnist", "fashion-mnist")
FINDINGS = {"latent_reading": ("apart", "mostly_apart", "mixed", "unmeasured"),
            "reconstruction_classes": ("most_kept", "half_or_fewer", "unmeasured"),
            **{f"failures_{d.replace('-', '_')}": ("mostly_one", "several", "several_tied", "all_different",
                                                  "unmeasured")
               for d in DATASETS},
            **{f"failures_confused_{d.replace('-', '_')}": ("mostly", "some", "none", "unmeasured") for d in DATASETS}}


OUTPUTS = outputs()   # writes nothing of its own


def plan(profile: Profile, base: TrainConfig) -> list[RunSpec]:
    return []   # reads the reference runs (reference.py)


def write(c: Comparison) -> list[Path]:
    return []   # its figures are the reference runs' own (latent.png, failures.png)


def latent_classes(mu: np.ndarray, labels: np.ndarray, classes: Sequence[str], seed: int) -> dict[str, Any]:
    """k-nearest-neighbour accuracy in the latent space (cross-validated), the confusion between
    classes, and for Fashion-MNIST how far footwear stands from clothing."""
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier

    folds = StratifiedKFold(KNN_FOLDS, shuffle=True, random_state=seed)
    knn = KNeighborsClassifier(KNN_NEIGHBOURS)
    predicted = cross_val_predict(knn, mu, labels, cv=folds)
    matrix = confusion_matrix(labels, predicted, labels=list(range(len(classes))))
    per_class = matrix.sum(1)
    pairs = []
    for i in range(len(classes)):
        for j in range(i + 1, len(classes)):
            rate = (matrix[i, j] + matrix[j, i]) / max(per_class[i] + per_class[j], 1)
            pairs.append({"classes": [classes[i], classes[j]], "confusion": float(rate)})
    pairs.sort(key=lambda p: -p["confusion"])
    recall = {classes[i]: float(matrix[i, i] / max(per_class[i], 1)) for i in range(len(classes))}
    result: dict[str, Any] = {
        "knn_accuracy": float((predicted == labels).mean()), "neighbours": KNN_NEIGHBOURS, "folds": KNN_FOLDS,
        "images": int(len(labels)), "chance": float(np.bincount(labels).max() / len(labels)),
        "most_confused": pairs[0], "confused_pairs": pairs[:5], "recall": recall,
        "best_class": max(recall, key=recall.get), "worst_class": min(recall, key=recall.get)}
    for rank, pair in enumerate(pairs[:3], 1):   # named one by one, so that a sentence can place them
        result[f"pair{rank}_a"], result[f"pair{rank}_b"] = pair["classes"]
        result[f"pair{rank}_rate"] = pair["confusion"]
    if all(name in classes for name in FOOTWEAR + CLOTHING):
        group = np.array([0 if classes[y] in CLOTHING else 1 if classes[y] in FOOTWEAR else 2 for y in labels])
        kept = group < 2
        kind = cross_val_predict(knn, mu[kept], group[kept], cv=folds)
        clothing, footwear = mu[kept][group[kept] == 0], mu[kept][group[kept] == 1]
        distance = float(np.linalg.norm(footwear.mean(0) - clothing.mean(0)))
        spread = float(np.sqrt((footwear.var(0).sum() + clothing.var(0).sum()) / 2))
        result["footwear"] = {"knn_accuracy": float((kind == group[kept]).mean()),
                              "centroid_distance": distance, "within_group_spread": spread,
                              "separation": distance / spread if spread else None,
                              # what always answering the larger group would get right: the vote's baseline
                              "majority_share": max(len(clothing), len(footwear)) / int(kept.sum()),
                              "left_out": ", ".join(name for name in classes if name not in FOOTWEAR + CLOTHING),
                              "footwear": list(FOOTWEAR), "clothing": list(CLOTHING)}
    return result


def judge(c: Comparison, spread: Spread) -> list[Finding]:
    return [reading(c), reconstruction_classes(c), *[f for d in DATASETS for f in failures(c, d)]]


def reading(c: Comparison) -> Finding:
    readings, evidence = {}, []
    for dataset in DATASETS:
        outcome = c.one("reference", dataset)
        path = outcome.run_dir / "latents.npz" if outcome is not None and outcome.run_dir else None
        if path is None or not path.is_file():
            continue
        with np.load(path, allow_pickle=False) as data:
            mu, labels = data["mu"].astype(np.float64), data["labels"].astype(int)
            classes = [str(x) for x in data["classes"]] if "classes" in data.files else [str(i) for i in range(10)]
        readings[dataset] = latent_classes(mu, labels, classes, c.profile.seed)
        evidence.append(f"runs/{outcome.spec.name}/latents.npz")
    claim = ("what the reference models' 2-D latent spaces separate: k-NN accuracy, the classes they confuse "
             "most, and footwear against clothing")
    footwear = readings.get("fashion-mnist", {}).get("footwear")
    if footwear is None or "mnist" not in readings:
        return unmeasured("latent_reading", claim, FINDINGS["latent_reading"])
    accuracy = footwear["knn_accuracy"]
    verdict = "apart" if accuracy >= FOOTWEAR_APART else "mostly_apart" if accuracy >= FOOTWEAR_MOSTLY else "mixed"
    return Finding("latent_reading", claim, FINDINGS["latent_reading"], verdict, readings,
                   {"kind": f"{KNN_FOLDS}-fold cross-validated {KNN_NEIGHBOURS}-nearest-neighbour predictions on the "
                            f"test set's posterior means; footwear apart at ≥ {FOOTWEAR_APART:.0%}, mostly at ≥ "
                            f"{FOOTWEAR_MOSTLY:.0%}"}, evidence=evidence)


def reconstruction_classes(c: Comparison) -> Finding:
    claim = "the share of reconstructions the report's classifier puts in their original's class"
    rates = {}
    for dataset in DATASETS:
        outcome = c.one("reference", dataset)
        if outcome is not None and "reconstruction_class_rate" in outcome.metrics:
            rates[dataset.replace("-", "_")] = outcome.metrics["reconstruction_class_rate"]
    if "mnist" not in rates:
        return unmeasured("reconstruction_classes", claim, FINDINGS["reconstruction_classes"])
    return Finding("reconstruction_classes", claim, FINDINGS["reconstruction_classes"],
                   "most_kept" if rates["mnist"]["kept"] > 0.5 else "half_or_fewer", rates,
                   {"kind": "binomial standard error"}, evidence=[o.spec.name for d in DATASETS
                                                                  for o in c.runs("reference", d)[:1]])


def failures(c: Comparison, dataset: str) -> list[Finding]:
    """The test images the reference model reconstructs worst: of which classes, and how many of
    them the classifier reads as another class in their reconstruction (a confusion, not a blur)."""
    key = dataset.replace("-", "_")
    names = (f"failures_{key}", f"failures_confused_{key}")
    outcome = c.one("reference", dataset)
    if outcome is None or "failures" not in outcome.metrics:
        return [unmeasured(name, "the worst reconstructions", FINDINGS[name]) for name in names]
    gallery = outcome.metrics["failures"]
    images = gallery["images"]
    classes = [image["class"] for image in images]
    counts = {name: classes.count(name) for name in dict.fromkeys(classes)}
    top = max(counts.values())
    top_classes = [name for name, count in counts.items() if count == top]
    verdict = ("mostly_one" if 2 * top > len(images) else "all_different" if top == 1 else
               "several" if len(top_classes) == 1 else "several_tied")
    evidence = [f"runs/{outcome.spec.name}/failures.png"]
    worst = Finding(names[0], "the classes of the test images the reference model reconstructs worst",
                    FINDINGS[names[0]], verdict, {
                        "shown": len(images), "top_class": top_classes[0], "top_count": top,
                        "tied_classes": len(top_classes), "top_classes": ", ".join(top_classes),
                        "worst_elbo": images[0]["negative_elbo"],
                        "median_elbo": gallery["median_negative_elbo"], "searched": gallery["test_images"],
                        "worst_over_median": images[0]["negative_elbo"] / gallery["median_negative_elbo"]},
                    evidence=evidence)
    read = [image for image in images if "reconstructed_as" in image]
    if not read:
        return [worst, unmeasured(names[1], "the worst reconstructions' classes", FINDINGS[names[1]])]
    wrong = [image for image in read if image["reconstructed_as"] != image["class"]]
    wrong_as = [image["reconstructed_as"] for image in wrong]
    common = max(dict.fromkeys(wrong_as), key=wrong_as.count) if wrong else None
    confused = Finding(names[1], "how many of the worst reconstructions the classifier reads as another class",
                       FINDINGS[names[1]], "mostly" if 2 * len(wrong) > len(read) else "some" if wrong else "none", {
                           "confused": len(wrong), "shown": len(read), "most_common_wrong": common,
                           "most_common_wrong_count": wrong_as.count(common) if common else 0},
                       evidence=evidence)
    return [worst, confused]
