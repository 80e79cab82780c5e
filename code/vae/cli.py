"""The command line: `python -m vae {data,train,report} ...`.

Every invalid value ends in one line on stderr and exit code 2, before anything is written;
expected failures (missing data, a broken checkpoint, a full disk, a busy output folder, too
little memory) end in one line and exit 1; Ctrl-C, SIGTERM and SIGHUP in one line and exit 130,
143 or 129; an error the code did not expect (a bug) in one line asking for a bug report, with
the traceback saved to a log file, and exit 70.
`train` and `report` hold the lock of their --out folder while they run (plumbing/outdir.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Sequence

from .plumbing import console
from .plumbing.artifacts import ArtifactError
from .data import DATASETS, DataError, prepare, read_dataset, split
from .losses import RECON_LOSSES
from .models import ARCHITECTURES
from .checkpoints import prepare_train_folder
from .plumbing.outdir import owned
from .config import TrainConfig
from .plumbing.errors import ConfigError, TrainingError
from .training import train

DEFAULTS = TrainConfig()


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line naming the problem (exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


# Parsing only: a text that does not parse is passed on as it is, and TrainConfig.validate
# names the flag and what it must be; argparse checks nothing but the choices.

def _integer(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _sizes(text: str) -> tuple[int, ...] | str:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        return text


def _out_folder(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a folder (got an empty string)")
    return Path(text)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=DEFAULTS.data_dir,
                        help="folder holding the datasets (default: %(default)s)")


# --8<-- [start:train-options]
def add_out_argument(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--out", type=_out_folder, default=Path(default), help="output folder (default: %(default)s)")


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of one training run; the report's commands reuse them."""
    parser.add_argument("--dataset", choices=list(DATASETS), default=DEFAULTS.dataset,
                        help="which dataset to train on (default: %(default)s)")
    parser.add_argument("--arch", choices=ARCHITECTURES, default=DEFAULTS.arch,
                        help="conv: the reference ConvVAE of seed report 000; mlp: fully connected "
                             "(default: %(default)s)")
    parser.add_argument("--hidden", type=_sizes, default=DEFAULTS.hidden,
                        help="hidden layer sizes of the mlp model, comma-separated, e.g. 400 or 512,256 "
                             "(default: 400)")
    parser.add_argument("--epochs", type=_integer, default=DEFAULTS.epochs,
                        help="number of passes over the training split (default: %(default)s)")
    parser.add_argument("--batch-size", type=_integer, default=DEFAULTS.batch_size,
                        help="examples per optimizer step (default: %(default)s)")
    parser.add_argument("--latent-dim", type=_integer, default=DEFAULTS.latent_dim,
                        help="dimension of the latent z (default: %(default)s)")
    parser.add_argument("--beta", type=_number, default=DEFAULTS.beta,
                        help="weight of the KL term; 1 gives the ELBO (default: %(default)s)")
    parser.add_argument("--free-bits", type=_number, default=DEFAULTS.free_bits,
                        help="nats of KL per latent unit that the loss does not penalise (free bits, Kingma "
                             "et al. 2016); 0 trains on the plain ELBO (default: %(default)s)")
    parser.add_argument("--lr", type=_number, default=DEFAULTS.lr,
                        help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--weight-decay", type=_number, default=DEFAULTS.weight_decay,
                        help="Adam weight decay (default: %(default)s)")
    parser.add_argument("--recon-loss", choices=RECON_LOSSES, default=DEFAULTS.recon_loss,
                        help="bce: Bernoulli log-likelihood summed over pixels; mse: squared error "
                             "(default: %(default)s)")
    parser.add_argument("--val-split", type=_number, default=DEFAULTS.val_split,
                        help="fraction of the training images held out for validation (default: %(default)s)")
    parser.add_argument("--seed", type=_integer, default=DEFAULTS.seed,
                        help="seed of the split, initialisation, shuffling and noise (default: %(default)s)")
    parser.add_argument("--device", default=DEFAULTS.device,
                        help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps (default: %(default)s)")
    add_data_arguments(parser)
    parser.add_argument("--train-limit", type=_integer, default=None,
                        help="train on the first N examples of the training split only (quick runs)")
    parser.add_argument("--binarize", action="store_true",
                        help="dynamically binarize the training images (fixed draw for validation and test), "
                             "to compare with published binarized-MNIST numbers")
    add_objective_arguments(parser)


def add_objective_arguments(parser: argparse.ArgumentParser) -> None:
    """The training objective, its schedules, the MLP's activation and the GPU step."""
    parser.add_argument("--objective", choices=TrainConfig.OBJECTIVES, default=DEFAULTS.objective,
                        help="elbo: the evidence lower bound; iwae: the importance-weighted bound with --k "
                             "samples (Burda et al. 2015); the reported ELBO is the ELBO either way "
                             "(default: %(default)s)")
    parser.add_argument("--k", type=_integer, default=DEFAULTS.k,
                        help="importance samples per example of --objective iwae (default: %(default)s)")
    parser.add_argument("--kl-warmup-epochs", type=_integer, default=DEFAULTS.kl_warmup_epochs,
                        help="raise the KL weight linearly from 0 to --beta over this many epochs, "
                             "step by step; 0 turns warm-up off (default: %(default)s)")
    parser.add_argument("--lr-schedule", choices=TrainConfig.LR_SCHEDULES, default=DEFAULTS.lr_schedule,
                        help="constant: --lr throughout; cosine: from --lr down to --min-lr over the run; "
                             "burda: --lr x 10^(-i/7) for 3^i epochs, i = 0..7, 3,280 epochs in all "
                             "(default: %(default)s)")
    parser.add_argument("--min-lr", type=_number, default=DEFAULTS.min_lr,
                        help="last learning rate of the cosine schedule (default: %(default)s)")
    parser.add_argument("--activation", choices=TrainConfig.ACTIVATIONS, default=DEFAULTS.activation,
                        help="activation of the mlp model's hidden layers; --hidden 200,200 --activation tanh "
                             "--latent-dim 50 is Burda et al.'s model (default: %(default)s)")
    parser.add_argument("--init-output-bias", action="store_true",
                        help="start the decoder's output bias at the logit of the training images' mean pixel")
    parser.add_argument("--precision", choices=TrainConfig.PRECISIONS, default=DEFAULTS.precision,
                        help="of the training step: auto lets the speed policy choose (bf16 autocast only "
                             "where it was measured to be faster and as good, else fp32); fp32; bf16 (autocast "
                             "on the CPU and CUDA) (default: %(default)s)")
    parser.add_argument("--stop-window", type=_integer, default=DEFAULTS.stop_window,
                        help="stop before --epochs when the best validation -ELBO improved by less than "
                             "--stop-min-gain nats over this many epochs; 0 trains every epoch (default: %(default)s)")
    parser.add_argument("--stop-min-gain", type=_number, default=DEFAULTS.stop_min_gain,
                        help="the smallest gain in nats over --stop-window epochs that keeps training "
                             "(default: %(default)s)")
    add_cuda_graph_argument(parser)


def add_cuda_graph_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction, default=DEFAULTS.cuda_graph,
                        help="on CUDA, replay the training step from CUDA graphs instead of running it eagerly "
                             "(off by default until a GPU run measures it)")
# --8<-- [end:train-options]


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig of the parsed options: every field that has an option of the same name."""
    options = vars(args)
    return TrainConfig(**{f.name: options[f.name] for f in dataclasses.fields(TrainConfig) if f.name in options})


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m vae",
                           description="Train and report a Variational Autoencoder on MNIST and Fashion-MNIST.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for add_command in (_add_data_command, _add_train_command, _add_report_command, _add_benchmark_command,
                        _add_bench_command):
        add_command(commands)
    return parser


def _add_data_command(commands) -> None:
    data = commands.add_parser("data", help="fetch and verify the datasets",
                               description="Put the datasets in --data-dir and verify their MD5 checksums.")
    data.add_argument("--dataset", choices=[*DATASETS, "all"], default="all",
                      help="which dataset to prepare (default: %(default)s)")
    add_data_arguments(data)
    data.add_argument("--no-download", action="store_true",
                      help="skip torchvision's download and use the offline sources only")


def _add_train_command(commands) -> None:
    train_cmd = commands.add_parser("train", help="train one VAE",
                                    description="Train one VAE and write its config, history, "
                                                "checkpoints and metrics to --out.")
    add_train_arguments(train_cmd)
    add_out_argument(train_cmd, "runs/default")
    train_cmd.add_argument("--resume", action="store_true",
                           help="continue from OUT/last.pt if it exists")
    train_cmd.add_argument("--overwrite", action="store_true",
                           help="delete the run already in --out and train a new one in its place")


def _add_report_command(commands) -> None:
    report = commands.add_parser("report", help="train every run of the report and write its figures and tables",
                                 description="Retrain every run of a profile and write all figures, tables "
                                             "and manifest.json into --out.")
    report.add_argument("--profile", choices=["quick", "standard", "full"], default="standard",
                        help="quick: small subsets, minutes (tests, CI); standard: full datasets, the sweeps until the "
                             "stopping rule, the reference ConvVAEs 10 epochs; "
                             "full: adds 50/100-epoch runs and larger sweeps, GPU recommended (default: %(default)s)")
    add_data_arguments(report)
    add_out_argument(report, "docs/assets")
    report.add_argument("--workers", type=_integer, default=None,
                        help="train up to this many runs at once, each in its own process (default: on a CPU one "
                             "per core, each on one thread; on CUDA one, or as many as asked that the free GPU "
                             "memory holds)")
    add_cuda_graph_argument(report)


def _add_benchmark_command(commands) -> None:
    benchmark = commands.add_parser(
        "benchmark", help="train Burda et al.'s VAE until the paper's -log p(x) and write its assets",
        description="Train Burda et al.'s 784-200-200-50 tanh VAE on dynamically binarized MNIST (resuming its "
                    "runs in --runs-dir), estimate its test -log p(x) with k = 5000 importance samples, and write "
                    "the table, learning curve, weights and manifest to --out. On CUDA it also trains the IWAE.")
    benchmark.add_argument("--recipe", choices=["paper", "quick"], default="paper",
                           help="paper: 1000 epochs, all test images (37 to 46 minutes on a 2-core CPU); "
                                "quick: a subset, seconds (tests) (default: %(default)s)")
    add_data_arguments(benchmark)
    add_out_argument(benchmark, "docs/assets/benchmark")
    benchmark.add_argument("--runs-dir", type=_out_folder, default=Path("runs/benchmark"),
                           help="where the runs train and can be resumed from (default: %(default)s)")
    benchmark.add_argument("--device", default=DEFAULTS.device, help="cpu, cuda, cuda:N or auto (default: %(default)s)")
    benchmark.add_argument("--iwae", action=argparse.BooleanOptionalAction, default=None,
                           help="also train the IWAE with k = 50 (default: on CUDA only; each step costs about "
                                "50 decoder passes)")


def _add_bench_command(commands) -> None:
    bench = commands.add_parser("bench", help="time the training step and evaluation on this machine",
                                description="On the CPU: time the DataLoader baseline (the seed report's pipeline) against the project's in one "
                                            "process and write bench.json and its tables (bench*.md) to --out. On CUDA: time the "
                                            "eager, captured and bf16 training steps and write bench-cuda.json and "
                                            "bench-cuda.md.")
    add_data_arguments(bench)
    add_out_argument(bench, "docs/assets/bench")
    bench.add_argument("--device", default="cpu",
                       help="cpu, cuda, cuda:N or auto (default: %(default)s)")
    bench.add_argument("--no-report", action="store_true",
                       help="do not time the report (quick profile on the CPU, standard on CUDA)")
    bench.add_argument("--no-compile", action="store_true", help="do not measure torch.compile")
    bench.add_argument("--tables-only", action="store_true",
                       help="time nothing: write the tables of the bench.json in --out again (after a change of "
                            "their wording or of a translation)")
    bench.add_argument("--examples-dir", default=None,
                       help="a copy of github.com/pytorch/examples: also time its vae/main.py (10 epochs) against "
                            "`vae train` with the same MLP, one after the other (CPU; a few minutes)")


def run_data(args: argparse.Namespace) -> None:
    names = list(DATASETS) if args.dataset == "all" else [args.dataset]
    for name in names:
        prepare(DATASETS[name], args.data_dir, download=not args.no_download)


def run_train(args: argparse.Namespace) -> None:
    config = config_from_args(args)
    try:
        config.validate()
    except ConfigError as err:
        _fail(str(err), 2)
    data = read_dataset(config.dataset, config.data_dir, fetch=True, log=console.log)   # one MD5 check per file
    with owned(args.out):
        prepare_train_folder(args.out, config, resume=args.resume, overwrite=args.overwrite)
        train(config, args.out, resume=args.resume, log=console.log,
              splits=split(data, config.val_split, config.seed, config.train_limit))


def run_report(args: argparse.Namespace) -> None:
    from .plumbing.device import select_device
    from .report import PROFILES, ReportError, build_report   # matplotlib and sklearn only when needed

    if args.workers is not None and (not isinstance(args.workers, int) or args.workers < 1):
        raise ConfigError("workers", f"must be a positive integer (got {args.workers!r})")
    cores = os.cpu_count() or 1
    on_cpu = args.workers is not None and select_device(PROFILES[args.profile].device).type == "cpu"
    if on_cpu and args.workers > cores:   # on a CPU more processes than cores only compete
        raise ConfigError("workers", f"must be at most {cores}, the CPU cores of this machine (got {args.workers})")
    profile = dataclasses.replace(PROFILES[args.profile], cuda_graph=args.cuda_graph,
                                  workers=PROFILES[args.profile].workers if args.workers is None else args.workers)
    with owned(args.out):     # the report fetches what is missing and checks each file once
        try:
            build_report(profile, args.data_dir, args.out, log=console.log)
        except ReportError as err:
            _fail(str(err), 1)


def run_benchmark(args: argparse.Namespace) -> None:
    from .plumbing.device import select_device
    from .report import RECIPES, build_benchmark

    select_device(args.device)          # a device this machine lacks: one line, before any training
    prepare(DATASETS["mnist"], args.data_dir)
    with owned(args.out), owned(args.runs_dir):
        build_benchmark(RECIPES[args.recipe], args.data_dir, args.out, args.runs_dir, args.device, args.iwae,
                        log=console.log)


def run_bench(args: argparse.Namespace) -> None:
    from .bench import BenchConfig, main as bench_main, rewrite_tables
    from .plumbing.device import select_device

    if args.tables_only:
        try:
            rewrite_tables(args.out, console.log)
        except FileNotFoundError as err:
            _fail(str(err), 2)
        return
    device = select_device(args.device)
    prepare(DATASETS["mnist"], args.data_dir)
    with owned(args.out):       # checked and locked before minutes of timing, as train and report do
        bench_main(BenchConfig(data_dir=str(args.data_dir), out_dir=str(args.out), report=not args.no_report,
                               compile=not args.no_compile, examples_dir=args.examples_dir), device)


COMMANDS = {"data": run_data, "train": run_train, "report": run_report, "benchmark": run_benchmark,
            "bench": run_bench}


def _fail(message: str, code: int) -> None:
    try:
        print(f"python -m vae: error: {message}", file=sys.stderr)
    except (OSError, ValueError):     # stderr full or closed (2>/dev/full): the exit code still says it
        pass
    raise SystemExit(code)


# Messages of the allocators when a model or batch does not fit (torch raises RuntimeError).
OUT_OF_MEMORY = ("not enough memory", "out of memory", "cannot allocate memory")


def _is_out_of_memory(err: BaseException) -> bool:
    import torch

    if isinstance(err, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(err, RuntimeError) and any(m in str(err).lower() for m in OUT_OF_MEMORY)


# What to change when memory runs out, in the options of the command that ran out.
OUT_OF_MEMORY_ADVICE = {
    "train": "the model or a batch does not fit on the device; use a smaller --latent-dim, --hidden or --batch-size",
    "report": "the report's runs do not fit; use fewer --workers or a smaller --profile (quick)",
    "benchmark": "the IWAE's k = 50 samples do not fit; use --no-iwae, or a device with more memory",
    "bench": "the timed models do not fit; use --no-report, or run the bench alone",
    "data": "the dataset does not fit; free some memory",
}


# Exit code of an error the code did not expect (a bug): EX_SOFTWARE of sysexits.h, never the 1 of a
# handled failure, so that scripts can tell the two apart.
EXIT_BUG = 70


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except Exception as err:        # SystemExit and KeyboardInterrupt are not Exceptions
        _fail_unexpected(err)
    return 0


def _fail_unexpected(err: BaseException) -> None:
    import tempfile
    import traceback

    detail = "".join(traceback.format_exception(err))
    try:
        fd, log_path = tempfile.mkstemp(prefix="vae-error-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"python -m vae {' '.join(sys.argv[1:])}\n\n{detail}")
        where = f"the traceback is in {log_path}"
    except OSError:
        where = "the traceback could not be saved"
    first_line = (str(err).splitlines() or [""])[0][:200]
    _fail(f"unexpected error ({type(err).__name__}: {first_line}); this is a bug, please report it with the "
          f"command you ran; {where}", EXIT_BUG)


def _run(args: argparse.Namespace) -> int:
    try:
        with console.signals_recorded():
            COMMANDS[args.command](args)
            console.check_interrupt()      # an interrupt that a __del__ or weakref callback swallowed
    except ConfigError as err:
        _fail(str(err), 2)
    except (DataError, TrainingError, ArtifactError) as err:
        _fail(str(err), 1)
    except KeyboardInterrupt:
        _fail_interrupted(args.command)
    except (MemoryError, RuntimeError) as err:
        if not _is_out_of_memory(err):
            raise
        _fail(f"out of memory: {OUT_OF_MEMORY_ADVICE[args.command]} (or a device with more memory)", 1)
    return 0


def _fail_interrupted(command: str) -> None:
    import signal

    signum = console.interrupted_by() or signal.SIGINT
    what = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    if command == "train":
        _fail(f"{what}; run the same command with --resume to continue from the last complete epoch", 128 + signum)
    _fail(f"{what}; files already written are complete, run the same command again to finish", 128 + signum)
