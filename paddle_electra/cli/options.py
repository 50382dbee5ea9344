"""Option builders that the command groups share, and the flags of a dataclass of options.

- `add_model_option`: `--model`, a model directory or name (each command says which, in `help`).
- `add_output_option`: `--out` and `--output`, two spellings of one option.
- `add_runtime_options` / `runtime_options`: how a model runs (backend, precision, threads).
- `add_dataclass_arguments` / `dataclass_from_args`: one flag per field of a dataclass such as
  `paddle_electra.training.options.FinetuneOptions` (default, help and spelling from the field),
  and the object again from the parsed arguments.
"""

import argparse
import dataclasses
import typing

# How the help texts describe a model given by name.
MODEL_NAME = "model name (zoo name or Hub repo id, fetched and converted on first use)"


def add_model_option(parser, help, required=False):
    """`--model` on `parser`: a model directory or name; `help` says which model the command takes."""
    return parser.add_argument("--model", required=required, help=help)


def add_output_option(parser, help, canonical="--out", required=False):
    """`--out` and `--output` as one option (dest: the `canonical` spelling's name). Either spelling
    sets it; the usage line, the errors and the help show the canonical one, and the help names the
    other."""
    alias = "--output" if canonical == "--out" else "--out"
    action = parser.add_argument(canonical, alias, required=required, help=f"{help} (alias: {alias})")
    # the parser keeps matching the alias (it maps every option string it was given to the action);
    # only what is shown changes
    action.option_strings = [canonical]
    return action


def add_runtime_options(parser):
    """The Predictor's options (backend, precision, threads), in their own help section."""
    from paddle_electra.runtime.predictor import BACKENDS, PRECISIONS

    group = parser.add_argument_group("how the model runs")
    group.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="auto (default): the static export, under whichever of onnxruntime and Paddle Inference "
        "(oneDNN) was faster on this CPU for the batch's size (timed on the first batch of each size; "
        "Paddle Inference on a GPU); or force one; dygraph runs the Paddle Layer itself (slow on CPU, no "
        "export)",
    )
    group.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32 (default); bf16 (Paddle Inference, CPUs with AVX512-BF16/AMX) or int8 (onnxruntime, "
        "quantized linear layers), or fp16 on a GPU (Paddle Inference), are faster and change results "
        "slightly",
    )
    group.add_argument(
        "--threads", type=int, help="CPU math threads (default: the cores this process may use)"
    )


def runtime_options(args):
    """The Predictor keywords of `add_runtime_options`' flags."""
    return {"backend": args.backend, "precision": args.precision, "threads": args.threads}


def at_least(minimum):
    """An argparse type: a whole number of at least `minimum`."""

    def whole_number(text):
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number of at least {minimum}, not {text!r}")
        return value

    return whole_number


def flag_of(field):
    """The command-line flag of a dataclass field (metadata `flag`, default `--` + the name with
    dashes); None for a field without one (Python only) or one with a flag per value (`flags`)."""
    if "flags" in field.metadata:
        return None
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def cli_fields(cls):
    """The fields of the dataclass `cls` that the command line sets (a flag, or one per value)."""
    return [f for f in dataclasses.fields(cls) if flag_of(f) or "flags" in f.metadata]


def add_dataclass_arguments(parser, cls, names=None, skip=()):
    """Add the flags of the dataclass `cls`'s fields to `parser` (all, or those in `names`; less
    those in `skip`), in field order, each in the help section its metadata names.
    The metadata keys are those of `paddle_electra.training.options`."""
    hints = typing.get_type_hints(cls)
    for field in cli_fields(cls):
        if (names is None or field.name in names) and field.name not in skip:
            _add_field(_section(parser, field.metadata.get("group")), field, hints[field.name])


def dataclass_from_args(cls, args):
    """An instance of `cls` with the values parsed for its flags (`add_dataclass_arguments`); the
    fields without a flag keep their defaults."""
    return cls(**{field.name: getattr(args, field.name) for field in cli_fields(cls)})


def _section(parser, title):
    """The argument group `title` of `parser` (made on first use); the parser itself for None."""
    if title is None:
        return parser
    for group in parser._action_groups:
        if group.title == title:
            return group
    return parser.add_argument_group(title)


def _add_field(section, field, annotation):
    meta = field.metadata
    if "flags" in meta:  # one flag per value, at most one of them
        exclusive = section.add_mutually_exclusive_group()
        for flag, (value, text) in meta["flags"].items():
            exclusive.add_argument(flag, dest=field.name, action="store_const", const=value, help=_help(text))
        return
    flag = flag_of(field)
    details = {key: meta[key] for key in ("choices", "nargs", "const", "metavar") if key in meta}
    if annotation is bool:  # a switch: sets the opposite of the default
        details["action"] = "store_false" if field.default else "store_true"
    else:
        details["default"] = field.default
        value_type = _value_type(annotation)
        if "minimum" in meta:
            details["type"] = at_least(meta["minimum"])
        elif value_type is not None:
            details["type"] = value_type
        if "choices" not in details and "--" + field.name.replace("_", "-") != flag:
            details.setdefault("metavar", flag.lstrip("-").replace("-", "_").upper())  # as argparse's
    section.add_argument(flag, dest=field.name, help=_help(meta["help"]), **details)


def _value_type(annotation):
    """int or float for a field of that type (or Optional of it); None: the text as given."""
    types = [t for t in typing.get_args(annotation) if t is not type(None)] or [annotation]
    return types[0] if len(types) == 1 and types[0] in (int, float) else None


def _help(text):
    return text.replace("%", "%%")  # argparse formats help with %
