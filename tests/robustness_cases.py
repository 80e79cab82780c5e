"""Write docs/includes/robustness.md, the Robustness section, from the tests that check it.

    python tests/robustness_cases.py          # rewrite the include
    python tests/robustness_cases.py --check  # exit 1 if it is out of date (the test suite runs this check)

Every row of the table is one test of tests/test_reliability_*.py: its guarantee tag, the first
line of its docstring and its number of cases (parametrizations), so the counts are never typed
by hand. Rows follow the order of the guarantees (tests/support/reliability.py), then of the files
and of the tests within each file.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = sorted(Path(__file__).resolve().parent.glob("test_reliability_*.py"))
INCLUDE = ROOT / "docs" / "includes" / "robustness.md"
INCLUDE_PT = ROOT / "docs" / "includes" / "robustness.pt.md"   # the Portuguese edition's

INTRO = """\
Every guarantee below is checked by `make test` on a CPU without network access, using tiny
models and data subsets so that the checks take seconds, not minutes. The table is generated
from the tests themselves (`tests/test_reliability_*.py`) by `tests/robustness_cases.py`; the
suite fails if this page and the tests disagree.

- **Invalid settings** end in one line on stderr that names the option and the values it
  accepts, with exit code 2, before anything is written. Expected failures (damaged data or
  checkpoints, a full disk, too little memory, a non-finite loss) end in one line and exit
  code 1; an interrupt ends in one line with exit code 130 (Ctrl-C), 143 (SIGTERM) or 129
  (SIGHUP, the terminal closed). None of them prints a traceback. An error the code did not
  expect (a bug) ends in one line asking for a bug report, with exit code 70 and the
  traceback saved to a log file whose name the line gives.
- **Data** is only used once each of the four IDX files of a dataset has the expected MD5
  checksum; `make data` (or `python -m vae data`) repairs a damaged data folder, keeping the
  files that are already right, and names a folder found where a file belongs.
- **Every file is written atomically**: to a temporary file in the same folder, flushed,
  fsynced, then renamed over the target. A crash leaves either the old file or the new one,
  never a mix (at most a hidden `.NAME.*.tmp` file remains, which the site ignores). Files get
  the permissions the umask gives (0644 under the usual 022), so a copied site is readable.
- **Checkpoints** are loaded with `torch.load(weights_only=True)`, and the CRC-32 of every
  record is checked, so a damaged or foreign file is refused with a message rather than loaded.
  Each records its format version: a newer format, an unknown field or setting is refused, never
  dropped, and the configuration it holds is checked with the command line's rules, naming the
  file.
- **Interrupted training**, even by `SIGKILL`, continues with `--resume` from the last complete
  epoch and, on the CPU, ends with exactly the metrics of an uninterrupted run.
- **A full disk** is named as such even where torch's checkpoint writer hides it behind its own
  error: the writer keeps the error of the file itself (checked on a real 1 MB filesystem
  wherever the test machine allows mounting one).
- **Output folders are owned.** A running `train`, `report` or `bench` holds a lock on its `--out`
  folder, which the system releases when the process ends, even by `SIGKILL`; a second command
  into the same folder is refused in one line. `train` into a folder that already holds a run
  needs `--resume` (which checks the run's settings, even when `last.pt` is gone) or
  `--overwrite` (which deletes the old run's files first, so the two runs never mix).
- **Ctrl-C always stops a command**, even when it lands in a finalizer where Python would
  ignore it: the signal is recorded and checked after every epoch and every report run.
- **The log never stops a run**: if stdout is closed (`train ... | head -1`) or fails, the
  remaining lines are dropped and training carries on; characters stdout cannot encode are
  escaped.
- **The site build refuses mixed or unpublishable assets**: before any page is built, it
  checks that the runs, tables and `manifest.json` of `docs/assets` come from one report, that
  the records are well formed, that every listed figure is a PNG and every generated table a
  table without raw HTML, and names the first file at fault. `make site` builds into a
  temporary folder and swaps it in, so a failed build leaves the previous site.
- **The report never deletes what it did not write.** It is built in a staging folder on the
  same filesystem as `--out` and lands all at once or not at all. It replaces only the files
  that the previous report's `manifest.json` lists; if anything else stands where it would
  write, it stops in one line (exit code 2) before training, as it does when anything it would
  replace lies behind a symbolic link or `--out` holds the project's sources or pages. Staging
  left by a killed command is removed by the next one once its lock is free; a parallel report
  stopped by a signal ends in one line, and its workers end with it, even after a `SIGKILL`.
- **The CUDA path** is checked on the CPU: the device asked for is made current and the step
  captured on its warm-up stream; fp32 means fp32 (no TF32) with deterministic cuDNN; the fixed
  binarization is drawn on the CPU; each report run gets a fresh worker process. Until a GPU run
  measures them, the captured step and parallel runs are opt-in (`--cuda-graph`,
  `report --workers N`).
"""


INTRO_PT = """\
Cada garantia abaixo é verificada por `make test` numa CPU sem acesso à rede, com modelos
minúsculos e subconjuntos dos dados, para que as verificações levem segundos, não minutos. A tabela
é gerada a partir dos próprios testes (`tests/test_reliability_*.py`) por `tests/robustness_cases.py`;
a suíte falha se esta página e os testes discordarem.

- **Valores inválidos** terminam numa linha no stderr que nomeia a opção e os valores aceitos,
  com código de saída 2, antes que qualquer coisa seja escrita. Falhas esperadas (dados ou
  checkpoints danificados, disco cheio, pouca memória, uma perda não finita) terminam numa linha
  com código 1; uma interrupção termina numa linha com código 130 (Ctrl-C), 143 (SIGTERM) ou 129
  (SIGHUP, o terminal fechado). Nenhuma delas imprime um traceback. Um erro que o código não
  esperava (um bug) termina numa linha que pede um relato do bug, com código 70, e o traceback é
  salvo num arquivo de log cujo nome a linha informa.
- **Os dados** só são usados depois que cada um dos quatro arquivos IDX de um conjunto tem o MD5
  esperado; `make data` (ou `python -m vae data`) repara uma pasta de dados danificada, mantendo os
  arquivos que já estão certos, e nomeia uma pasta encontrada onde deveria haver um arquivo.
- **Cada arquivo é escrito de forma atômica**: num arquivo temporário da mesma pasta, descarregado
  (fsync) e então renomeado sobre o destino. Uma queda deixa o arquivo antigo ou o novo, nunca uma
  mistura (no máximo sobra um arquivo oculto `.NOME.*.tmp`, que o site ignora). Os arquivos recebem
  as permissões que a umask dá (0644 com a usual 022), então um site copiado é legível.
- **Checkpoints** são carregados com `torch.load(weights_only=True)` e o CRC-32 de cada registro é
  verificado, então um arquivo danificado ou estranho é recusado com uma mensagem em vez de
  carregado. Cada um registra a versão do seu formato: um formato mais novo, um campo ou uma
  configuração desconhecidos são recusados, nunca descartados, e a configuração que ele guarda é
  verificada com as regras da linha de comando, nomeando o arquivo.
- **Um treinamento interrompido**, mesmo por `SIGKILL`, continua com `--resume` a partir da última
  época completa e, na CPU, termina exatamente com as métricas de uma execução sem interrupção.
- **Um disco cheio** é nomeado como tal mesmo quando o gravador de checkpoints do torch o esconde
  atrás de um erro próprio: o gravador guarda o erro do próprio arquivo (verificado num sistema de
  arquivos real de 1 MB onde a máquina de teste permite montá-lo).
- **As pastas de saída têm dono.** Um `train`, `report` ou `bench` em execução mantém uma trava na
  sua pasta `--out`, que o sistema libera quando o processo termina, mesmo por `SIGKILL`; um
  segundo comando na mesma pasta é recusado numa linha. `train` numa pasta que já tem uma execução
  exige `--resume` (que confere as configurações da execução, mesmo sem `last.pt`) ou
  `--overwrite` (que apaga antes os arquivos da execução antiga, para que as duas nunca se misturem).
- **Ctrl-C sempre para um comando**, mesmo quando cai num finalizador em que o Python o
  ignoraria: o sinal é registrado e verificado depois de cada época e de cada execução do relatório.
- **O log nunca para uma execução**: se o stdout é fechado (`train ... | head -1`) ou falha, as
  linhas restantes são descartadas e o treinamento continua; caracteres que o stdout não consegue
  codificar são escapados.
- **A geração do site recusa assets misturados ou impublicáveis**: antes de qualquer página, ela
  verifica que as execuções, as tabelas e o `manifest.json` de `docs/assets` vêm de um mesmo
  relatório, que os registros estão bem formados, que cada figura listada é um PNG e cada tabela
  gerada uma tabela sem HTML bruto, e nomeia o primeiro arquivo com problema. `make site` gera o
  site numa pasta temporária e só a põe no lugar no fim, então uma geração que falha deixa o site
  anterior.
- **O relatório nunca apaga o que não escreveu.** Ele é montado numa pasta de preparação no mesmo
  sistema de arquivos de `--out` e chega de uma vez ou não chega. Substitui só os arquivos que o
  `manifest.json` do relatório anterior lista; se qualquer outra coisa estiver onde ele escreveria,
  para numa linha (código 2) antes do treinamento, como faz quando algo que substituiria está atrás
  de um link simbólico ou quando `--out` contém as fontes ou as páginas do projeto. A preparação
  deixada por um comando morto é removida pelo próximo assim que a trava estiver livre; um
  relatório paralelo parado por um sinal termina numa linha, e seus workers terminam com ele,
  mesmo depois de um `SIGKILL`.
- **O caminho CUDA** é verificado na CPU: o dispositivo pedido passa a ser o atual e o passo é
  capturado no seu stream de aquecimento; fp32 significa fp32 (sem TF32) com cuDNN determinístico;
  a binarização fixa é sorteada na CPU; cada execução do relatório ganha um processo worker novo.
  Até que uma execução em GPU os meça, o passo capturado e as execuções paralelas são opcionais
  (`--cuda-graph`, `report --workers N`).
"""
# The guarantees' names in Portuguese. The table's middle column stays in English: it is each
# test's own docstring, the one description the code keeps of what the test checks.
GUARANTEES_PT = {
    "Invalid command-line and configuration values": "Valores inválidos na linha de comando e na configuração",
    "Dataset files missing, truncated or corrupted": "Arquivos de dados ausentes, truncados ou corrompidos",
    "Checkpoints": "Checkpoints",
    "Interruption and resume": "Interrupção e retomada",
    "Non-finite loss": "Perda não finita",
    "Atomic files": "Arquivos atômicos",
    "Unwritable folders and full disks": "Pastas sem permissão de escrita e discos cheios",
    "Owned output folders": "Pastas de saída com dono",
    "The report never deletes what it did not write": "O relatório nunca apaga o que não escreveu",
    "Consistent report assets": "Assets coerentes do relatório",
    "Out of memory": "Falta de memória",
    "A closed or failing stdout": "Um stdout fechado ou com falha",
    "Unexpected errors": "Erros inesperados",
    "The CUDA path, checked on the CPU": "O caminho CUDA, verificado na CPU",
}


def load_tests_modules() -> list:
    if str(TESTS[0].parent) not in sys.path:        # `support` is imported as pytest imports it
        sys.path.insert(0, str(TESTS[0].parent))
    modules = []
    for path in TESTS:
        spec = importlib.util.spec_from_file_location(f"{path.stem}_for_docs", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


def cases_of(test) -> int:
    marks = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize"]
    return math.prod(len(m.args[1]) for m in marks) if marks else 1


def rows() -> list[tuple[str, str, int]]:
    """(guarantee, what the test checks, number of cases), in the order of GUARANTEES."""
    from support.reliability import GUARANTEES

    found = []
    for path, module in zip(TESTS, load_tests_modules()):
        for name, test in vars(module).items():
            if not (name.startswith("test_") and callable(test)):
                continue
            if not getattr(test, "guarantee", None) or not test.__doc__:
                raise SystemExit(f"{path.name}::{name} needs a @guarantee tag and a docstring")
            found.append((test.guarantee, test.__doc__.strip().splitlines()[0], cases_of(test)))
    order = list(GUARANTEES)
    found.sort(key=lambda row: order.index(row[0]))      # stable: file and test order within each guarantee
    return [(GUARANTEES[area], text, n) for area, text, n in found]


def escape(text: str) -> str:
    return text.replace("|", "\\|")


def render(language: str = "en") -> str:
    table = rows()
    total = sum(n for _, _, n in table)
    if language == "pt":
        intro, summary = INTRO_PT, f"A suíte verifica essas garantias em **{total} casos** ({len(table)} testes; " \
                                   "a descrição de cada um é a docstring do próprio teste, em inglês):"
        header, name = "| Garantia | O que o teste verifica | Casos |", GUARANTEES_PT.__getitem__
    else:
        intro, summary = INTRO, f"The suite checks these guarantees in **{total} cases** ({len(table)} tests):"
        header, name = "| Guarantee | What the test checks | Cases |", str
    lines = [
        "<!-- Generated by tests/robustness_cases.py from tests/test_reliability_*.py; do not edit. -->",
        "",
        intro,
        summary,
        "",
        header,
        "|---|---|--:|",
        *[f"| {name(area)} | {escape(text)} | {n} |" for area, text, n in table],
        "",
    ]
    return "\n".join(lines)


INCLUDES = {"en": INCLUDE, "pt": INCLUDE_PT}


def main(argv: list[str]) -> int:
    if "--check" in argv:
        stale = [path for language, path in INCLUDES.items()
                 if (path.read_text(encoding="utf-8") if path.exists() else "") != render(language)]
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date; run: python tests/robustness_cases.py", file=sys.stderr)
        return 1 if stale else 0
    from vae.plumbing.artifacts import write_text

    for language, path in INCLUDES.items():
        write_text(path, render(language))
        print(f"wrote {path.relative_to(ROOT)}: {sum(n for _, _, n in rows())} cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
