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
# # Análise do espaço latente (notebook executado)
#
# Esta página é um notebook Jupyter (`docs/notebooks/latent_space.pt.py`, formato percent do jupytext)
# que o **mkdocs-jupyter executa toda vez que o site é gerado**. Ele não treina e não precisa
# dos conjuntos de dados: lê o que `python -m vae report` salvou para as duas execuções de referência
# do ConvVAE, `latents.npz` (média da posterior $\mu_\phi(x)$, log-variância $\log\sigma^2_\phi(x)$ e
# rótulo de cada imagem de teste) e `model.pt` (os pesos da época com a melhor validação). Todos os números
# abaixo são calculados nas células, a partir dos arquivos desta versão do site.

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
from matplotlib.ticker import FuncFormatter


def find_root() -> Path:
    """A raiz do repositório: o mkdocs roda o kernel a partir dela, mas outras pastas também servem."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "docs" / "assets" / "manifest.json").is_file():
            return folder
    raise FileNotFoundError("docs/assets/manifest.json não encontrado; execute `python -m vae report` antes")


ROOT = find_root()
ASSETS = ROOT / "docs" / "assets"
sys.path.insert(0, str(ROOT / "code"))
from vae.figures import CLASS_COLOURS  # noqa: E402  (as cores das classes em todas as figuras do relatório)
from vae.checkpoints import load_model  # noqa: E402  (o pacote deste repositório)

torch.set_num_threads(1)
plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.25,
                     "axes.spines.top": False, "axes.spines.right": False})
manifest = json.loads((ASSETS / "manifest.json").read_text())

# Os arquivos (e o código do relatório) guardam os nomes das classes do Fashion-MNIST em inglês, e os
# cálculos continuam a usá-los; só o que o notebook mostra é traduzido. Os dígitos do MNIST ficam como estão.
CLASSES_PT = {"T-shirt/top": "camiseta/top", "Trouser": "calça", "Pullover": "pulôver", "Dress": "vestido",
              "Coat": "casaco", "Sandal": "sandália", "Shirt": "camisa", "Sneaker": "tênis", "Bag": "bolsa",
              "Ankle boot": "bota de cano curto"}


def nome(classe: str) -> str:
    """O nome em português de uma classe, como o notebook o mostra."""
    return CLASSES_PT.get(classe, classe)


def virgula(valor, formato: str) -> str:
    """Um número formatado com vírgula decimal, como no texto em português."""
    return format(valor, formato).replace(".", ",")


def virgula_nos_eixos(fig) -> None:
    """Os rótulos numéricos dos eixos com vírgula decimal e sinal de menos tipográfico."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}".replace(".", ",").replace("-", "\u2212")))


def run_playing(experiment: str, value) -> str:
    """A execução que cumpre este papel no plano do relatório (manifest.json lista os papéis de cada execução)."""
    for run in manifest["runs"]:
        if [experiment, value] in run.get("roles", []):
            return run["name"]
    raise LookupError(f"nenhuma execução de {ASSETS / 'manifest.json'} cumpre {experiment} = {value}; "
                      "gere os assets novamente com `python -m vae report`")


# Os dois ConvVAEs de referência, escolhidos pelo seu lugar no plano, não pelo nome.
RUNS = {"MNIST": run_playing("reference", "mnist"), "Fashion-MNIST": run_playing("reference", "fashion-mnist")}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


rows = ["| conjunto de dados | execução | `latents.npz` (sha256) | `model.pt` (sha256) |", "|---|---|---|---|"]
for name, run in RUNS.items():
    folder = ASSETS / "runs" / run
    rows.append(f"| {name} | `{run}` | `{sha256(folder / 'latents.npz')}` | `{sha256(folder / 'model.pt')}` |")
display(Markdown(f"Entradas desta execução do notebook (perfil **{manifest.get('profile', '?')}**): \n\n"
                 + "\n".join(rows)))

# %% [markdown]
# <a id="in-three-lines"></a>
#
# ## Em resumo
#
# O que este notebook encontra nos arquivos deste relatório; as seções abaixo mostram como cada número
# é calculado.

# %%
reading = json.loads((ASSETS / "findings.json").read_text())["findings"]["latent_reading"]["numbers"]
spread, evenness = {}, {}
for name, run in RUNS.items():
    with np.load(ASSETS / "runs" / run / "latents.npz", allow_pickle=False) as z:
        mu, logvar = z["mu"].astype(np.float64), z["logvar"].astype(np.float64)
    # A variância da posterior agregada por dimensão: a dispersão das médias mais a variância média.
    spread[name] = np.sqrt(mu.var(0) + np.exp(logvar).mean(0))
    evenness[name] = np.linalg.eigvalsh(np.cov(mu.T))[::-1] / np.cov(mu.T).trace()

key = {"MNIST": "mnist", "Fashion-MNIST": "fashion-mnist"}
lines = [
    "- Sem rótulos, uma votação entre os {n} vizinhos mais próximos nos dois números latentes acerta a classe de "
    "{m:.0f} % das imagens de teste do MNIST e de {f:.0f} % das do Fashion-MNIST (acaso, a maior classe: "
    "{cm:.0f} % e {cf:.0f} %)."
    .format(n=reading["mnist"]["neighbours"], m=100 * reading["mnist"]["knn_accuracy"],
            f=100 * reading["fashion-mnist"]["knn_accuracy"], cm=100 * reading["mnist"]["chance"],
            cf=100 * reading["fashion-mnist"]["chance"]),
    "- Os códigos do conjunto de teste inteiro (a posterior agregada) têm desvio padrão de "
    + "; ".join(f"{' e '.join(virgula(v, '.2f') for v in spread[name])} no {name}" for name in RUNS)
    + " ao longo dos dois eixos latentes, contra 1 para a prior da qual as amostras são sorteadas.",
    "- O primeiro eixo principal das médias da posterior concentra "
    + " e ".join(f"{100 * evenness[name][0]:.0f} % da sua variância no {name}" for name in RUNS)
    + ", contra 50 % para dois eixos usados por igual.",
]
display(Markdown("\n".join(lines)))

# %% [markdown]
# <a id="loading-the-saved-posteriors-and-models"></a>
#
# ## Carregando as posteriores e os modelos salvos

# %%
def load_run(run: str):
    folder = ASSETS / "runs" / run
    with np.load(folder / "latents.npz", allow_pickle=False) as z:
        data = {key: z[key] for key in z.files}
    model, _ = load_model(folder / "model.pt")     # os pesos e a configuração com que foram treinados
    metrics = json.loads((folder / "metrics.json").read_text())
    classes = [str(c) for c in data["classes"]] if "classes" in data else [str(i) for i in range(10)]
    return {"mu": data["mu"].astype(np.float64), "logvar": data["logvar"].astype(np.float64),
            "labels": data["labels"].astype(int), "classes": classes,
            "model": model.eval(), "metrics": metrics}


runs = {name: load_run(run) for name, run in RUNS.items()}
for name, r in runs.items():
    print(f"{name:14s} {len(r['mu']):6d} imagens de teste, dimensão latente {r['mu'].shape[1]}, "
          f"classes: {', '.join(nome(c) for c in r['classes'])}")

# %% [markdown]
# <a id="a-consistency-check-the-kl-term-from-the-saved-posteriors"></a>
#
# ## Uma verificação de consistência: o termo KL a partir das posteriores salvas
#
# O termo KL da ELBO tem a forma fechada
# $\mathrm{KL}\big(q_\phi(z \mid x)\,\|\,\mathcal{N}(0, I)\big) = \tfrac12 \sum_j
# \big(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2\big)$. Tomada a média sobre as posteriores de teste
# salvas, ela tem de ser igual à KL de teste que o código de treinamento escreveu em `metrics.json`,
# já que as duas vêm dos mesmos pesos. Se as duas discordassem, o notebook e as tabelas descreveriam
# modelos diferentes, e a geração do site pararia aqui.

# %%
lines = ["| conjunto de dados | KL a partir de `latents.npz` | KL de teste em `metrics.json` | diferença |",
         "|---|--:|--:|--:|"]
for name, r in runs.items():
    kl_dims = 0.5 * (r["mu"] ** 2 + np.exp(r["logvar"]) - 1.0 - r["logvar"])
    r["kl_dims"] = kl_dims.mean(0)
    kl_here, kl_saved = kl_dims.sum(1).mean(), r["metrics"]["test"]["kl"]
    assert abs(kl_here - kl_saved) < 1e-3 * max(1.0, abs(kl_saved)), (name, kl_here, kl_saved)
    lines.append(f"| {name} | {virgula(kl_here, '.4f')} | {virgula(kl_saved, '.4f')} | "
                 f"{virgula(abs(kl_here - kl_saved), '.1e')} |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# <a id="the-encoded-test-set-with-the-uncertainty-of-each-code"></a>
#
# ## O conjunto de teste codificado, com a incerteza de cada código
#
# Cada ponto é a média da posterior $\mu_\phi(x)$ de uma imagem de teste. Para algumas imagens, a elipse
# mostra um desvio padrão de $q_\phi(z \mid x)$ ao longo de cada eixo: o codificador não leva uma imagem
# a um ponto, mas a uma pequena nuvem. Na escala do plano inteiro as nuvens são pequenas, por isso o
# detalhe amplia uma pequena janela em torno de um código, onde as elipses se veem, e a
# linha abaixo da figura compara o seu tamanho com o espaçamento entre os códigos: onde uma nuvem é mais
# larga que a distância até o código vizinho mais próximo, os dois compartilham amostras, e é isso que
# torna o decodificador suave entre eles.

# %%
def scatter(ax, r, title, ellipses=40, seed=0):
    cmap = CLASS_COLOURS
    for c, cls in enumerate(r["classes"]):
        sel = r["labels"] == c
        ax.scatter(*r["mu"][sel].T, s=2, alpha=0.5, color=cmap(c), label=nome(cls), rasterized=True)
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
    inset.set_xlabel(f"ampliação ×{np.ptp(r['mu'][:, 0]) / (2 * half):.0f}", fontsize=7, labelpad=1)
    ax.indicate_inset_zoom(inset, edgecolor="black")


fig, axes = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True)
for ax, (name, r) in zip(axes, runs.items()):
    scatter(ax, r, f"{name}: médias da posterior e elipses de 1σ")
virgula_nos_eixos(fig)
plt.show()

from sklearn.neighbors import NearestNeighbors  # noqa: E402

lines = []
for name, r in runs.items():
    gap = NearestNeighbors(n_neighbors=2).fit(r["mu"]).kneighbors(r["mu"])[0][:, 1]   # [0] é o próprio código
    sigma = np.exp(0.5 * r["logvar"]).mean(1)
    lines.append(f"- {name}: a mediana do σ de um código é {virgula(np.median(sigma), '.3f')}, e a mediana da "
                 f"distância de um código ao outro código mais próximo, {virgula(np.median(gap), '.3f')}: uma "
                 f"nuvem típica mede {virgula(np.median(sigma) / np.median(gap), '.1f')} vezes essa distância.")
display(Markdown("\n".join(lines)))

# %% [markdown]
# <a id="the-aggregate-posterior-against-the-prior"></a>
#
# ## A posterior agregada diante da prior
#
# O termo KL puxa cada $q_\phi(z \mid x)$ em direção a $\mathcal{N}(0, I)$, mas só em média.
# O que importa para a amostragem é a **posterior agregada**
# $q_\phi(z) = \frac1N \sum_{n=1}^{N} q_\phi(z \mid x_n)$, a distribuição dos códigos do conjunto de
# dados inteiro. Onde ela difere da prior, amostras $z \sim \mathcal{N}(0, I)$ são decodificadas em
# imagens diferentes das dos dados. Abaixo, um $z$ é sorteado de cada posterior de teste e comparado,
# dimensão por dimensão, com a densidade normal padrão.

# %%
fig, axes = plt.subplots(1, 4, figsize=(14, 3.2), constrained_layout=True, sharey=True)
grid = np.linspace(-4, 4, 200)
rng = np.random.default_rng(0)
summary = ["| conjunto de dados | dimensão | média de $z$ | desvio padrão de $z$ | $\\sigma$ médio | KL média de $q(z_j \\mid x)$ à prior (nats) |",
           "|---|--:|--:|--:|--:|--:|"]
for k, (name, r) in enumerate(runs.items()):
    z = r["z"] = r["mu"] + np.exp(0.5 * r["logvar"]) * rng.standard_normal(r["mu"].shape)
    for j in range(z.shape[1]):
        ax = axes[2 * k + j]
        ax.hist(z[:, j], bins=80, range=(-4, 4), density=True, alpha=0.6, label="posterior agregada")
        ax.plot(grid, np.exp(-grid ** 2 / 2) / np.sqrt(2 * np.pi), "k--", lw=1, label="prior N(0, 1)")
        ax.set(title=f"{name}, $z_{j + 1}$", xlabel=f"$z_{j + 1}$")
        summary.append(f"| {name} | $z_{j + 1}$ | {virgula(z[:, j].mean(), '+.3f')} | "
                       f"{virgula(z[:, j].std(), '.3f')} | {virgula(np.exp(0.5 * r['logvar'][:, j]).mean(), '.3f')} | "
                       f"{virgula(r['kl_dims'][j], '.3f')} |")
axes[0].legend(fontsize=7, frameon=False)
virgula_nos_eixos(fig)
plt.show()
display(Markdown("\n".join(summary)))

# %% [markdown]
# A média e o desvio padrão são apenas dois momentos: códigos com a média e a variância da prior ainda
# podem ter outra forma, e os histogramas mostram a forma. A linha abaixo mede uma característica dela,
# a fração de códigos perto de zero, comparada com a da prior. Um $\sigma$ médio pequeno significa que o
# codificador está confiante, de modo que a maior parte da dispersão de $z$ vem das diferenças entre as
# imagens, e é isso que torna o código informativo.

# %%
near_prior = 0.3829   # P(|z| < 0.5) sob N(0, 1)
lines = []
for name, r in runs.items():   # os códigos dos histogramas acima
    shares = " e ".join(f"{100 * np.mean(np.abs(r['z'][:, j]) < 0.5):.0f} %" for j in range(r["z"].shape[1]))
    lines.append(f"- {name}: {shares} dos códigos ficam dentro de ±0,5 ao longo de $z_1$ e de $z_2$, "
                 f"contra {100 * near_prior:.0f} % sob a prior.")
display(Markdown("\n".join(lines)))

# %% [markdown]
#
# <a id="how-well-the-classes-separate-without-labels"></a>
#
# ## Quão bem as classes se separam sem rótulos
#
# O VAE nunca vê um rótulo. Para medir quanta informação de classe os seus dois números por imagem
# ainda carregam, uma votação entre os $k$ vizinhos mais próximos ($k$-NN) prevê a classe de cada imagem
# de teste a partir dos códigos das outras (com validação cruzada no conjunto de teste). A função é a do
# próprio relatório (`vae.report.experiments.latent_reading.latent_classes`), de modo que esta célula e a
# página Espaço latente dão os mesmos números; a célula verifica isso. O acaso é a fração da maior classe.

# %%
from vae.report.experiments.latent_reading import latent_classes  # noqa: E402

for name, r in runs.items():
    reading = latent_classes(r["mu"], r["labels"], r["classes"], seed=manifest["profile_settings"]["seed"])
    page = json.loads((ASSETS / "findings.json").read_text())["findings"]["latent_reading"]["numbers"][key[name]]
    assert abs(reading["knn_accuracy"] - page["knn_accuracy"]) < 1e-9, (name, reading["knn_accuracy"], page)
    pairs = "; ".join(f"{nome(p['classes'][0])} ↔ {nome(p['classes'][1])} ({virgula(100 * p['confusion'], '.1f')} % "
                      "das imagens do par votadas na outra classe)" for p in reading["confused_pairs"][:3])
    text = (f"**{name}**: acurácia do {reading['neighbours']}-NN a partir do código 2D "
            f"**{virgula(100 * reading['knn_accuracy'], '.1f')} %** "
            f"(acaso {virgula(100 * reading['chance'], '.1f')} %). "
            f"Pares mais confundidos: {pairs}.")
    if "footwear" in reading:
        text += (" Calçados contra roupas: distinguidos em "
                 f"{virgula(100 * reading['footwear']['knn_accuracy'], '.1f')} % das suas imagens.")
    display(Markdown(text))

# %% [markdown]
# <a id="pca-the-principal-axes-of-the-latent-cloud"></a>
#
# ## PCA: os eixos principais da nuvem latente
#
# A análise de componentes principais (PCA) encontra as direções ortogonais de maior variância dos
# códigos. Com um espaço latente bidimensional ela não reduz nada, mas responde a uma pergunta útil: os
# dois eixos latentes são usados de forma equilibrada e independente? A prior é isotrópica, então um
# modelo que a reproduzisse perfeitamente teria dois autovalores iguais e eixos não correlacionados.

# %%
from sklearn.decomposition import PCA

fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
for ax, (name, r) in zip(axes, runs.items()):
    pca = PCA(n_components=2).fit(r["mu"])
    for c, cls in enumerate(r["classes"]):   # by class, so that the legend names the colours
        sel = r["labels"] == c
        ax.scatter(*r["mu"][sel].T, s=1, color=CLASS_COLOURS(c), alpha=0.3, label=nome(cls), rasterized=True)
    ax.legend(markerscale=5, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)
    for length, vector in zip(pca.explained_variance_, pca.components_):
        ax.annotate("", xy=pca.mean_ + 2 * np.sqrt(length) * vector, xytext=pca.mean_,
                    arrowprops=dict(arrowstyle="->", lw=2, color="black"))
    ratio = pca.explained_variance_ratio_
    corr = np.corrcoef(r["mu"].T)[0, 1]
    ax.set(title=f"{name}: CP1 {virgula(100 * ratio[0], '.1f')} %; CP2 {virgula(100 * ratio[1], '.1f')} %; "
                 f"corr($\\mu_1$, $\\mu_2$) = {virgula(corr, '+.2f')}", xlabel="$\\mu_1$", ylabel="$\\mu_2$")
    ax.set_aspect("equal", adjustable="datalim")
virgula_nos_eixos(fig)
plt.show()
display(Markdown("\n".join(
    f"- {name}: o primeiro eixo principal concentra {100 * PCA(2).fit(r['mu']).explained_variance_ratio_[0]:.0f} % "
    f"da variância das médias (50 % seriam dois eixos usados por igual), e a correlação entre $\\mu_1$ e $\\mu_2$ "
    f"é {virgula(np.corrcoef(r['mu'].T)[0, 1], '+.2f')} (0 para a prior)." for name, r in runs.items())))

# %% [markdown]
# <a id="t-sne-of-the-full-posterior"></a>
#
# ## t-SNE da posterior completa
#
# O gráfico de dispersão acima mostra apenas as médias. Aqui cada posterior tem quatro parâmetros,
# $(\mu_1, \mu_2, \log\sigma_1^2, \log\sigma_2^2)$, e as variâncias também dependem da imagem
# (o codificador tem menos certeza sobre imagens incomuns). O t-SNE (van der Maaten & Hinton, 2008)
# dispõe esses quatro números por imagem no plano de modo que vizinhos próximos continuem próximos; um
# subconjunto aleatório de 2.000 imagens de teste mantém rápida a geração do site. Em um gráfico de t-SNE, os
# tamanhos dos agrupamentos e as distâncias entre eles não significam nada; só as vizinhanças contam.

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
        ax.scatter(*embedded[sel].T, s=4, color=CLASS_COLOURS(c), label=nome(cls))
    ax.set(title=f"{name}: t-SNE de $(\\mu, \\log\\sigma^2)$", xticks=[], yticks=[])
    ax.legend(markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5), frameon=False)
plt.show()

# %% [markdown]
# Quanta informação de classe as variâncias acrescentam às médias? Uma votação entre os 5 vizinhos mais
# próximos (com validação cruzada, como na página Espaço latente) sobre as mesmas imagens, uma vez só a
# partir das médias e outra a partir dos quatro números que o t-SNE dispôs no plano (cada um
# padronizado), em 2.000 imagens; cada fração vem com o seu erro padrão, $\sqrt{p(1-p)/n}$:

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
    lines.append(f"- {name}: {virgula(100 * vote['means'], '.1f')} % (± {virgula(100 * se['means'], '.1f')}) "
                 f"a partir das médias, {virgula(100 * vote['means and variances'], '.1f')} % "
                 f"(± {virgula(100 * se['means and variances'], '.1f')}) a partir das médias e das variâncias.")
display(Markdown("\n".join(lines)))

# %% [markdown]
# <a id="class-prototypes-and-a-walk-between-them"></a>
#
# ## Protótipos das classes e um percurso entre eles
#
# Decodificar o código médio de cada classe dá uma imagem "protótipo" por classe, o retrato que o
# decodificador faz de um membro médio. Uma reta entre dois protótipos,
# $z(t) = (1 - t)\,\bar\mu_a + t\,\bar\mu_b$, decodifica as imagens entre eles: onde a reta
# atravessa a região de outra classe, essa classe aparece no caminho. Estas imagens
# são decodificadas aqui, pelo decodificador salvo, durante a geração do site.

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
        axes[0, c].set_title(nome(r["classes"][c]), fontsize=8)
        axes[1, c].imshow(walk[c], cmap="gray_r", vmin=0, vmax=1)
        axes[1, c].set_title(f"t = {virgula(t[c, 0], '.2f')}", fontsize=8)
    for ax in axes.flat:
        ax.set(xticks=[], yticks=[])
        ax.grid(False)
    fig.suptitle(f"{name}: protótipos das classes (em cima); de {nome(r['classes'][a])} a {nome(r['classes'][b])}, "
                 "o protótipo mais distante (embaixo)", fontsize=10)
    plt.show()
    distances = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)
    pairs = sorted((distances[i, j], i, j) for i in range(10) for j in range(i + 1, 10))
    d, i, j = pairs[0]
    display(Markdown(f"{name}: as duas médias de classe mais próximas são {nome(r['classes'][i])} e "
                     f"{nome(r['classes'][j])} (a {virgula(d, '.2f')} uma da outra, contra uma mediana de "
                     f"{virgula(np.median([p[0] for p in pairs]), '.2f')} entre médias de classe): os seus "
                     "protótipos são decodificados a partir de pontos vizinhos do plano."))
