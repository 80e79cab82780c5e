# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Latent-space analysis (executed notebook)
#
# This page is a Jupyter notebook (`docs/notebooks/latent_space.py`, jupytext percent format)
# that **mkdocs-jupyter executes every time the site is built**. It does not train and does not
# need the datasets: it reads what `python -m vae report` saved for the two reference ConvVAE
# runs, `latents.npz` (posterior mean $\mu_\phi(x)$, log-variance $\log\sigma^2_\phi(x)$ and label
# of every test image) and `model.pt` (the best-validation weights). Every number below is
# computed in the cells, from the files of this build.

# %%
import hashlib
import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from matplotlib.patches import Ellipse


def find_root() -> Path:
    """The repository root: mkdocs runs the kernel from it, but be robust to other folders."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "docs" / "assets" / "manifest.json").is_file():
            return folder
    raise FileNotFoundError("docs/assets/manifest.json not found; run `python -m vae report` first")


ROOT = find_root()
ASSETS = ROOT / "docs" / "assets"
sys.path.insert(0, str(ROOT / "code"))
from vae.figures import CLASS_COLOURS  # noqa: E402  (the class colours of every figure of the report)
from vae.checkpoints import load_model  # noqa: E402  (the package of this repository)

torch.set_num_threads(1)
plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.25,
                     "axes.spines.top": False, "axes.spines.right": False})
manifest = json.loads((ASSETS / "manifest.json").read_text())


def run_playing(experiment: str, value) -> str:
    """The run that plays this role in the report's plan (manifest.json lists each run's roles)."""
    for run in manifest["runs"]:
        if [experiment, value] in run.get("roles", []):
            return run["name"]
    raise LookupError(f"no run of {ASSETS / 'manifest.json'} plays {experiment} = {value}; "
                      "regenerate the assets with `python -m vae report`")


# The two reference ConvVAEs, chosen by their place in the plan, not by name.
RUNS = {"MNIST": run_playing("reference", "mnist"), "Fashion-MNIST": run_playing("reference", "fashion-mnist")}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


rows = ["| dataset | run | `latents.npz` (sha256) | `model.pt` (sha256) |", "|---|---|---|---|"]
for name, run in RUNS.items():
    folder = ASSETS / "runs" / run
    rows.append(f"| {name} | `{run}` | `{sha256(folder / 'latents.npz')}` | `{sha256(folder / 'model.pt')}` |")
display(Markdown(f"Inputs of this execution (profile **{manifest.get('profile', '?')}**): \n\n" + "\n".join(rows)))

# %% [markdown]
# ## In three lines
#
# What this notebook finds in this build's files; the sections below show how each number is computed.

# %%
reading = json.loads((ASSETS / "findings.json").read_text())["findings"]["latent_reading"]["numbers"]
spread, evenness = {}, {}
for name, run in RUNS.items():
    with np.load(ASSETS / "runs" / run / "latents.npz", allow_pickle=False) as z:
        mu, logvar = z["mu"].astype(np.float64), z["logvar"].astype(np.float64)
    # The aggregate posterior's variance per dimension: the spread of the means plus the mean variance.
    spread[name] = np.sqrt(mu.var(0) + np.exp(logvar).mean(0))
    evenness[name] = np.linalg.eigvalsh(np.cov(mu.T))[::-1] / np.cov(mu.T).trace()

key = {"MNIST": "mnist", "Fashion-MNIST": "fashion-mnist"}
lines = [
    "- Without labels, a {n}-nearest-neighbour vote on the two latent numbers names the class of {m:.0f} % of "
    "the MNIST and {f:.0f} % of the Fashion-MNIST test images (chance, the largest class: {cm:.0f} % and {cf:.0f} %)."
    .format(n=reading["mnist"]["neighbours"], m=100 * reading["mnist"]["knn_accuracy"],
            f=100 * reading["fashion-mnist"]["knn_accuracy"], cm=100 * reading["mnist"]["chance"],
            cf=100 * reading["fashion-mnist"]["chance"]),
    "- The codes of the whole test set (the aggregate posterior) have a standard deviation of "
    + "; ".join(f"{' and '.join(f'{v:.2f}' for v in spread[name])} on {name}" for name in RUNS)
    + " along the two latent axes, against 1 for the prior that samples are drawn from.",
    "- The first principal axis of the posterior means holds "
    + " and ".join(f"{100 * evenness[name][0]:.0f} % of their variance on {name}" for name in RUNS)
    + ", against 50 % for two axes used equally.",
]
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Loading the saved posteriors and models

# %%
def load_run(run: str):
    folder = ASSETS / "runs" / run
    with np.load(folder / "latents.npz", allow_pickle=False) as z:
        data = {key: z[key] for key in z.files}
    model, _ = load_model(folder / "model.pt")     # the weights and the configuration they were trained with
    metrics = json.loads((folder / "metrics.json").read_text())
    classes = [str(c) for c in data["classes"]] if "classes" in data else [str(i) for i in range(10)]
    return {"mu": data["mu"].astype(np.float64), "logvar": data["logvar"].astype(np.float64),
            "labels": data["labels"].astype(int), "classes": classes,
            "model": model.eval(), "metrics": metrics}


runs = {name: load_run(run) for name, run in RUNS.items()}
for name, r in runs.items():
    print(f"{name:14s} {len(r['mu']):6d} test images, latent dimension {r['mu'].shape[1]}, "
          f"classes: {', '.join(r['classes'])}")

# %% [markdown]
# ## A consistency check: the KL term from the saved posteriors
#
# The KL term of the ELBO has the closed form
# $\mathrm{KL}\big(q_\phi(z \mid x)\,\|\,\mathcal{N}(0, I)\big) = \tfrac12 \sum_j
# \big(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2\big)$. Averaged over the saved test posteriors
# it must equal the test KL that the training code wrote into `metrics.json`, since both come
# from the same weights. If the two disagreed, the notebook and the tables would describe
# different models, and the build would stop here.

# %%
lines = ["| dataset | KL from `latents.npz` | test KL in `metrics.json` | difference |", "|---|--:|--:|--:|"]
for name, r in runs.items():
    kl_dims = 0.5 * (r["mu"] ** 2 + np.exp(r["logvar"]) - 1.0 - r["logvar"])
    r["kl_dims"] = kl_dims.mean(0)
    kl_here, kl_saved = kl_dims.sum(1).mean(), r["metrics"]["test"]["kl"]
    assert abs(kl_here - kl_saved) < 1e-3 * max(1.0, abs(kl_saved)), (name, kl_here, kl_saved)
    lines.append(f"| {name} | {kl_here:.4f} | {kl_saved:.4f} | {abs(kl_here - kl_saved):.1e} |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## The encoded test set, with the uncertainty of each code
#
# Each point is the posterior mean $\mu_\phi(x)$ of one test image. For a few images the ellipse
# shows one standard deviation of $q_\phi(z \mid x)$ along each axis: the encoder does not map an
# image to a point but to a small cloud. At the scale of the whole plane the clouds are small, so
# the inset enlarges a small window around one code, where the ellipses can be seen, and
# the line under the figure compares their size with the spacing of the codes: where a cloud is
# wider than the gap to the nearest other code, the two share samples, which is what makes the
# decoder smooth between them.

# %%
def scatter(ax, r, title, ellipses=40, seed=0):
    cmap = CLASS_COLOURS
    for c, cls in enumerate(r["classes"]):
        sel = r["labels"] == c
        ax.scatter(*r["mu"][sel].T, s=2, alpha=0.5, color=cmap(c), label=cls, rasterized=True)
    rng = np.random.default_rng(seed)
    sigma = np.exp(0.5 * r["logvar"])
    for i in rng.choice(len(r["mu"]), ellipses, replace=False):
        ax.add_patch(Ellipse(r["mu"][i], 2 * sigma[i, 0], 2 * sigma[i, 1], fill=False, lw=0.8,
                             color=cmap(r["labels"][i])))
    ax.set(title=title, xlabel="$\\mu_1$", ylabel="$\\mu_2$")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(markerscale=5, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)
    # At the plane's scale a 1σ ellipse is a speck: an inset shows a window of ±6σ around one code.
    centre, half = r["mu"][0], 6 * sigma[0].max()
    near = np.flatnonzero((np.abs(r["mu"] - centre) < half).all(1))
    inset = ax.inset_axes([0.02, 0.64, 0.34, 0.34])
    for i in near[:60]:
        inset.add_patch(Ellipse(r["mu"][i], 2 * sigma[i, 0], 2 * sigma[i, 1], fill=False, lw=0.8,
                                color=cmap(r["labels"][i])))
        inset.plot(*r["mu"][i], ".", ms=3, color=cmap(r["labels"][i]))
    inset.set(xlim=(centre[0] - half, centre[0] + half), ylim=(centre[1] - half, centre[1] + half),
              xticks=[], yticks=[], aspect="equal")
    inset.set_xlabel(f"zoom ×{np.ptp(r['mu'][:, 0]) / (2 * half):.0f}", fontsize=7, labelpad=1)
    ax.indicate_inset_zoom(inset, edgecolor="black")


fig, axes = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True)
for ax, (name, r) in zip(axes, runs.items()):
    scatter(ax, r, f"{name}: posterior means and 1σ ellipses")
plt.show()

from sklearn.neighbors import NearestNeighbors  # noqa: E402

lines = []
for name, r in runs.items():
    gap = NearestNeighbors(n_neighbors=2).fit(r["mu"]).kneighbors(r["mu"])[0][:, 1]   # [0] is itself
    sigma = np.exp(0.5 * r["logvar"]).mean(1)
    lines.append(f"- {name}: the median σ of a code is {np.median(sigma):.3f}, the median distance from "
                 f"a code to the nearest other code {np.median(gap):.3f}: a typical cloud is "
                 f"{np.median(sigma) / np.median(gap):.1f} times that gap.")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## The aggregate posterior against the prior
#
# The KL term pulls each $q_\phi(z \mid x)$ towards $\mathcal{N}(0, I)$, but only on average.
# What sampling relies on is the **aggregate posterior**
# $q_\phi(z) = \frac1N \sum_{n=1}^{N} q_\phi(z \mid x_n)$, the distribution of the codes of the
# whole data set. Where it differs from the prior, samples $z \sim \mathcal{N}(0, I)$ decode to
# images unlike the data. Below, one $z$ is drawn from each test posterior and compared, per
# dimension, with the standard normal density.

# %%
fig, axes = plt.subplots(1, 4, figsize=(14, 3.2), constrained_layout=True, sharey=True)
grid = np.linspace(-4, 4, 200)
rng = np.random.default_rng(0)
summary = ["| dataset | dimension | mean of $z$ | std of $z$ | mean $\\sigma$ | mean KL of $q(z_j \\mid x)$ to the prior (nats) |",
           "|---|--:|--:|--:|--:|--:|"]
for k, (name, r) in enumerate(runs.items()):
    z = r["z"] = r["mu"] + np.exp(0.5 * r["logvar"]) * rng.standard_normal(r["mu"].shape)
    for j in range(z.shape[1]):
        ax = axes[2 * k + j]
        ax.hist(z[:, j], bins=80, range=(-4, 4), density=True, alpha=0.6, label="aggregate posterior")
        ax.plot(grid, np.exp(-grid ** 2 / 2) / np.sqrt(2 * np.pi), "k--", lw=1, label="prior N(0, 1)")
        ax.set(title=f"{name}, $z_{j + 1}$", xlabel=f"$z_{j + 1}$")
        summary.append(f"| {name} | $z_{j + 1}$ | {z[:, j].mean():+.3f} | {z[:, j].std():.3f} | "
                       f"{np.exp(0.5 * r['logvar'][:, j]).mean():.3f} | {r['kl_dims'][j]:.3f} |")
axes[0].legend(fontsize=7, frameon=False)
plt.show()
display(Markdown("\n".join(summary)))

# %% [markdown]
# The mean and the standard deviation are two moments only: codes with the prior's mean and
# variance can still be shaped otherwise, and the histograms show the shape. The line below
# measures one feature of it, the share of codes near zero, against the prior's. A small mean
# $\sigma$ means the encoder is confident, so that most of the spread of $z$ comes from the
# differences between images, which is what makes the code informative.

# %%
near_prior = 0.3829   # P(|z| < 0.5) under N(0, 1)
lines = []
for name, r in runs.items():   # the codes of the histograms above
    shares = " and ".join(f"{100 * np.mean(np.abs(r['z'][:, j]) < 0.5):.0f} %" for j in range(r["z"].shape[1]))
    lines.append(f"- {name}: {shares} of the codes lie within ±0.5 along $z_1$ and $z_2$, "
                 f"against {100 * near_prior:.0f} % under the prior.")
display(Markdown("\n".join(lines)))

# %% [markdown]
#
# ## How well the classes separate without labels
#
# The VAE never sees a label. To measure how much class information its two numbers per image
# still carry, a $k$-nearest-neighbour vote predicts the class of each test image from the codes
# of the others (cross-validated on the test set). The function is the report's own
# (`vae.report.experiments.latent_reading.latent_classes`), so this cell and the Latent space page give the same
# numbers; the cell checks that they do. Chance is the share of the largest class.

# %%
from vae.report.experiments.latent_reading import latent_classes  # noqa: E402

for name, r in runs.items():
    reading = latent_classes(r["mu"], r["labels"], r["classes"], seed=manifest["profile_settings"]["seed"])
    page = json.loads((ASSETS / "findings.json").read_text())["findings"]["latent_reading"]["numbers"][key[name]]
    assert abs(reading["knn_accuracy"] - page["knn_accuracy"]) < 1e-9, (name, reading["knn_accuracy"], page)
    pairs = "; ".join(f"{p['classes'][0]} ↔ {p['classes'][1]} ({100 * p['confusion']:.1f} % of the pair's images "
                      "voted into the other class)" for p in reading["confused_pairs"][:3])
    text = (f"**{name}**: {reading['neighbours']}-NN accuracy from the 2-D code "
            f"**{100 * reading['knn_accuracy']:.1f} %** (chance {100 * reading['chance']:.1f} %). "
            f"Most confused pairs: {pairs}.")
    if "footwear" in reading:
        text += (f" Footwear against clothing: told apart for {100 * reading['footwear']['knn_accuracy']:.1f} % "
                 f"of their images.")
    display(Markdown(text))

# %% [markdown]
# ## PCA: the principal axes of the latent cloud
#
# Principal component analysis finds the orthogonal directions of largest variance of the codes.
# With a two-dimensional latent space it does not reduce anything, but it answers a useful
# question: are the two latent axes used evenly and independently? The prior is isotropic, so a
# model that matched it perfectly would have two equal eigenvalues and uncorrelated axes.

# %%
from sklearn.decomposition import PCA

fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
for ax, (name, r) in zip(axes, runs.items()):
    pca = PCA(n_components=2).fit(r["mu"])
    for c, cls in enumerate(r["classes"]):   # by class, so that the legend names the colours
        sel = r["labels"] == c
        ax.scatter(*r["mu"][sel].T, s=1, color=CLASS_COLOURS(c), alpha=0.3, label=cls, rasterized=True)
    ax.legend(markerscale=5, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)
    for length, vector in zip(pca.explained_variance_, pca.components_):
        ax.annotate("", xy=pca.mean_ + 2 * np.sqrt(length) * vector, xytext=pca.mean_,
                    arrowprops=dict(arrowstyle="->", lw=2, color="black"))
    ratio = pca.explained_variance_ratio_
    corr = np.corrcoef(r["mu"].T)[0, 1]
    ax.set(title=f"{name}: PC1 {100 * ratio[0]:.1f} %, PC2 {100 * ratio[1]:.1f} %, "
                 f"corr($\\mu_1$, $\\mu_2$) = {corr:+.2f}", xlabel="$\\mu_1$", ylabel="$\\mu_2$")
    ax.set_aspect("equal", adjustable="datalim")
plt.show()
display(Markdown("\n".join(
    f"- {name}: the first principal axis holds {100 * PCA(2).fit(r['mu']).explained_variance_ratio_[0]:.0f} % of "
    f"the variance of the means (50 % would be two axes used equally), and $\\mu_1$ and $\\mu_2$ correlate "
    f"at {np.corrcoef(r['mu'].T)[0, 1]:+.2f} (0 for the prior)." for name, r in runs.items())))

# %% [markdown]
# ## t-SNE of the full posterior
#
# The scatter above only shows the means. Each posterior has four parameters here,
# $(\mu_1, \mu_2, \log\sigma_1^2, \log\sigma_2^2)$, and the variances also depend on the image
# (the encoder is less certain about unusual images). t-SNE (van der Maaten & Hinton, 2008)
# embeds these four numbers per image in the plane so that close neighbours stay close; a random
# subset of 2000 test images keeps the build fast. Cluster sizes and the distances between
# clusters mean nothing in a t-SNE plot; only the neighbourhoods do.

# %%
from vae.evaluation import tsne_projection  # noqa: E402  (the report's own t-SNE, one thread)

fig, axes = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True)
for ax, (name, r) in zip(axes, runs.items()):
    idx = np.random.default_rng(1).choice(len(r["mu"]), min(2000, len(r["mu"])), replace=False)
    features = np.hstack([r["mu"][idx], r["logvar"][idx]])
    features = (features - features.mean(0)) / features.std(0)
    embedded = tsne_projection(torch.from_numpy(features)).numpy()
    for c, cls in enumerate(r["classes"]):
        sel = r["labels"][idx] == c
        ax.scatter(*embedded[sel].T, s=4, color=CLASS_COLOURS(c), label=cls)
    ax.set(title=f"{name}: t-SNE of $(\\mu, \\log\\sigma^2)$", xticks=[], yticks=[])
    ax.legend(markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)
plt.show()

# %% [markdown]
# How much class information do the variances add to the means? A 5-nearest-neighbour vote
# (cross-validated, as for the Latent space page) on the same images, once from the means alone
# and once from the four numbers that t-SNE embedded (each standardised), on 2,000 images; each
# share comes with its standard error, $\sqrt{p(1-p)/n}$:

# %%
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

lines = []
for name, r in runs.items():
    idx = np.random.default_rng(1).choice(len(r["mu"]), min(2000, len(r["mu"])), replace=False)
    both = np.hstack([r["mu"][idx], r["logvar"][idx]])
    both = (both - both.mean(0)) / both.std(0)
    means = (r["mu"][idx] - r["mu"][idx].mean(0)) / r["mu"][idx].std(0)
    vote = {label: cross_val_score(KNeighborsClassifier(5), features, r["labels"][idx], cv=5).mean()
            for label, features in (("means", means), ("means and variances", both))}
    se = {label: np.sqrt(p * (1 - p) / len(idx)) for label, p in vote.items()}
    lines.append(f"- {name}: {100 * vote['means']:.1f} % (± {100 * se['means']:.1f}) from the means, "
                 f"{100 * vote['means and variances']:.1f} % (± {100 * se['means and variances']:.1f}) "
                 "from the means and variances.")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Class prototypes and a walk between them
#
# Decoding the mean code of each class gives a "prototype" image per class, the decoder's
# picture of an average member. A straight line between two prototypes,
# $z(t) = (1 - t)\,\bar\mu_a + t\,\bar\mu_b$, decodes the images between them: where the line
# crosses the region of another class, that class appears on the way. These images
# are decoded here, by the saved decoder, at build time.

# %%
@torch.inference_mode()
def decode(model, codes: np.ndarray) -> np.ndarray:
    return torch.sigmoid(model.decode(torch.as_tensor(codes, dtype=torch.float32))).squeeze(1).numpy()


for name, r in runs.items():
    centroids = np.stack([r["mu"][r["labels"] == c].mean(0) for c in range(10)])
    prototypes = decode(r["model"], centroids)
    a, b = 0, 1 + int(np.argmax(np.linalg.norm(centroids[1:] - centroids[0], axis=1)))
    t = np.linspace(0, 1, 10)[:, None]
    walk = decode(r["model"], (1 - t) * centroids[a] + t * centroids[b])
    fig, axes = plt.subplots(2, 10, figsize=(12, 2.9), constrained_layout=True)
    for c in range(10):
        axes[0, c].imshow(prototypes[c], cmap="gray_r", vmin=0, vmax=1)
        axes[0, c].set_title(r["classes"][c], fontsize=8)
        axes[1, c].imshow(walk[c], cmap="gray_r", vmin=0, vmax=1)
        axes[1, c].set_title(f"t = {t[c, 0]:.2f}", fontsize=8)
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
        ax.grid(False)
    fig.suptitle(f"{name}: class prototypes (top); from {r['classes'][a]} to {r['classes'][b]}, "
                 "the farthest prototype (bottom)", fontsize=10)
    plt.show()
    distances = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)
    pairs = sorted((distances[i, j], i, j) for i in range(10) for j in range(i + 1, 10))
    d, i, j = pairs[0]
    display(Markdown(f"{name}: the two closest class means are {r['classes'][i]} and {r['classes'][j]} "
                     f"({d:.2f} apart, against a median of {np.median([p[0] for p in pairs]):.2f} between "
                     "class means): their prototypes are decoded from neighbouring points of the plane."))
