"""Commands that bring models in and keep the cache: `convert tf|hf`, `zoo`, `download`,
`cache list|prune`."""

import argparse

from paddle_electra.cli.common import UsageError
from paddle_electra.cli.options import add_model_option, add_output_option


def add_convert(sub):
    convert = sub.add_parser("convert", help="convert a TF or HF checkpoint to Paddle model directories")
    convert_sub = convert.add_subparsers(dest="source", required=True)
    tf = convert_sub.add_parser(
        "tf",
        help="original TF1 checkpoint (google-research/electra, HFL Chinese-ELECTRA, KoELECTRA)",
        description="Convert an original TF1 ELECTRA checkpoint (no TensorFlow needed) into "
        "OUT/discriminator and OUT/generator, each loadable with from_pretrained. Optimizer slots and "
        "global_step are skipped.",
    )
    tf.add_argument(
        "checkpoint", help="release directory (holding `checkpoint` or one *.index) or checkpoint prefix"
    )
    _conversion_options(
        tf,
        "output directory (gets discriminator/ and generator/)",
        "vocab.txt (default: beside the checkpoint)",
    )
    add_model_option(
        tf,
        "zoo name (see `paddle-electra zoo`): architecture and lower-casing from the zoo; "
        "the checkpoint must match it",
    )
    tf.add_argument(
        "--discriminator-config",
        help="BERT-style json (default: discriminator.json or *discriminator*.json beside the checkpoint)",
    )
    tf.add_argument(
        "--generator-config",
        help="BERT-style json (default: generator.json or *generator*.json beside the checkpoint)",
    )
    tf.add_argument("--quiet", action="store_true", help="no progress bar")
    tf.set_defaults(func=_convert_tf)
    hf = convert_sub.add_parser(
        "hf",
        help="HF transformers ELECTRA directory (pytorch_model.bin or model.safetensors)",
        description="Convert a HF transformers ELECTRA directory into a Paddle model directory, without "
        "torch and without executing pickled code. ElectraForPreTraining -> ElectraDiscriminator, "
        "ElectraForMaskedLM -> ElectraGenerator, ElectraModel -> ElectraModel. A key prefix (e.g. LTP's "
        "`backbone.`) and a nested config are detected; override with --prefix / --config-key.",
    )
    hf.add_argument("model_dir", help="directory with config.json, vocab.txt and the weights")
    _conversion_options(hf, "output model directory", "vocab.txt (default: the one in MODEL_DIR)")
    hf.add_argument(
        "--prefix", help="key prefix of the encoder weights, e.g. 'backbone.' (default: detected)"
    )
    hf.add_argument(
        "--config-key",
        help="dotted path of the ELECTRA config inside config.json, e.g. model.backbone.config",
    )
    hf.set_defaults(func=_convert_hf)


def _conversion_options(parser, out_help, vocab_help):
    add_output_option(parser, out_help, required=True)
    parser.add_argument("--vocab", help=vocab_help)
    parser.add_argument(
        "--cased",
        action="store_true",
        help="do not lower-case (default: the zoo's setting with --model, else lower-case)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")


def _convert_tf(args):
    from paddle_electra_convert.tf import convert_tf_checkpoint

    report = convert_tf_checkpoint(
        args.checkpoint,
        args.out,
        model_name=args.model,
        discriminator_config=args.discriminator_config,
        generator_config=args.generator_config,
        vocab_file=args.vocab,
        do_lower_case=False if args.cased else None,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    for tower in ("discriminator", "generator"):
        if tower in report:
            print(f"{tower}: {report[tower]}")
    print(
        f"skipped {report['optimizer_variables_skipped']} optimizer variable(s); "
        f"unused: {len(report['unused_variables'])}"
    )


def _convert_hf(args):
    from paddle_electra_convert.hf import convert_hf

    report = convert_hf(
        args.model_dir,
        args.out,
        prefix=args.prefix,
        config_key=args.config_key,
        vocab_file=args.vocab,
        do_lower_case=False if args.cased else None,
        overwrite=args.overwrite,
    )
    print(f"{report['tower']} (source prefix {report['prefix']!r}): {report['out_dir']}")


def add_zoo(sub):
    zoo = sub.add_parser(
        "zoo",
        help="list every released ELECTRA model: architecture, parameters, release file, Hub repos, "
        "cached or not",
        description="List the model zoo. H/I/L/A = hidden size / intermediate size / layers / attention "
        "heads; E = embedding size (shared by both towers); cached: which towers `paddle-electra download` "
        "(or a first use of the name) has put into the cache. Use a name wherever a model directory goes "
        "(from_pretrained, --model), with `download NAME`, or with `convert tf --model NAME`.",
    )
    zoo.set_defaults(func=_zoo)


ZOO_COLUMNS = (
    "name",
    "E",
    "discriminator H/I/L/A",
    "generator H/I/L/A",
    "vocab",
    "cased",
    "D params",
    "G params",
    "release",
    "Hugging Face Hub repos",
    "cached",
)


def _zoo(args):
    from paddle_electra.sources.pretrained import TOWERS, is_cached
    from paddle_electra.sources.zoo import MODELS

    rows = [ZOO_COLUMNS]
    for m in MODELS.values():
        cached = [tower for tower in TOWERS if is_cached(m.hf_hub_repo(tower))]
        rows.append(
            (
                m.name,
                str(m.embedding_size),
                _shape(m.discriminator),
                _shape(m.generator),
                str(m.vocab_size),
                "no" if m.do_lower_case else "yes",
                f"{m.parameters('discriminator') / 1e6:.1f}M",
                f"{m.parameters('generator') / 1e6:.1f}M",
                m.release,
                f"{m.hub}-{{discriminator,generator}}",
                "yes" if len(cached) == len(TOWERS) else (cached or ["no"])[0],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _shape(tower):
    return (
        f"{tower.hidden_size}/{tower.intermediate_size}/{tower.num_hidden_layers}/{tower.num_attention_heads}"
    )


def add_download(sub):
    dl = sub.add_parser(
        "download",
        help="fetch a zoo model from the Hugging Face Hub, convert it and keep it (or write it to --out)",
        description="Fetch a model's towers from the Hugging Face Hub with huggingface_hub (HF_ENDPOINT "
        "picks a mirror, HF_TOKEN authenticates, HF_HOME holds its download cache, HF_HUB_OFFLINE=1 reads "
        "only that cache), convert them with the torch-free HF converter and check them against the zoo. "
        "Without --out the result goes to the paddle-electra cache ($PADDLE_ELECTRA_CACHE), where every "
        "`--model NAME` and from_pretrained(NAME) finds it. NAME is a zoo name (see `paddle-electra zoo`) "
        "or any ELECTRA repo id on the Hub.",
    )
    dl.add_argument(
        "name",
        help="zoo name (e.g. chinese-electra-180g-base) or Hub repo id "
        "(e.g. hfl/chinese-electra-180g-base-discriminator)",
    )
    add_output_option(
        dl,
        "write OUT/discriminator and OUT/generator (a repo id: the model directory OUT) instead of the cache",
    )
    dl.add_argument(
        "--tower",
        choices=["discriminator", "generator", "both"],
        help="which tower of a zoo model (default both)",
    )
    dl.add_argument("--revision", help="branch, tag or commit of the Hub repos (default main)")
    dl.add_argument("--overwrite", action="store_true", help="replace existing --out directories")
    dl.add_argument("--quiet", action="store_true", help="no progress bars")
    dl.set_defaults(func=_download)


def _download(args):
    from paddle_electra_convert.download import download

    towers = None if args.tower in (None, "both") else (args.tower,)
    written = download(
        args.name,
        out=args.out,
        towers=towers,
        revision=args.revision,
        progress=not args.quiet,
        overwrite=args.overwrite,
    )
    for tower, directory in written.items():
        print(f"{tower}: {directory}")


def add_cache(sub):
    cache = sub.add_parser(
        "cache",
        help="the paddle-electra cache: list its entries, prune them",
        description="Everything paddle-electra keeps between runs lives under $PADDLE_ELECTRA_CACHE "
        "(default ~/.cache/paddle-electra): static exports of the models that were run (static/; capped by "
        "PADDLE_ELECTRA_EXPORT_CACHE_MAX, default 4G, least recently used evicted), compiled training "
        "kernels (kernels/) and fetched data. Removing an entry is always safe: it is made again when "
        "needed.",
    )
    cache_sub = cache.add_subparsers(dest="cache_command", required=True)
    cache_sub.add_parser(
        "list", help="every entry: size, time since last use, path (most recent first)"
    ).set_defaults(func=_cache_list)
    prune = cache_sub.add_parser(
        "prune",
        help="remove entries by age and/or down to a total size",
        description="Remove entries unused for longer than --older-than, then the least "
        "recently used ones until the rest fit in --max-size.",
    )
    prune.add_argument(
        "--older-than",
        type=_parsed("parse_age"),
        metavar="AGE",
        help="unused for longer than AGE, e.g. 30d, 12h",
    )
    prune.add_argument(
        "--max-size",
        type=_parsed("parse_size"),
        metavar="SIZE",
        help="keep at most SIZE in all, e.g. 2G, 500M",
    )
    prune.add_argument("--all", action="store_true", help="remove every entry")
    prune.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    prune.set_defaults(func=_cache_prune)


def _parsed(name):
    """An argparse type from cache.parse_size / parse_age (`name`; ValueError -> a usage error)."""

    def convert(text):
        from paddle_electra.utils import cache

        try:
            return getattr(cache, name)(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return convert


def _cache_list(args):
    import time

    from paddle_electra.utils.cache import cache_dir, entries, human_age, human_size

    now, found = time.time(), entries()
    for entry in reversed(found):  # most recently used first
        print(f"{human_size(entry['size']):>10}  {human_age(now - entry['used']):>7}  {entry['path']}")
    print(
        f"{human_size(sum(e['size'] for e in found)):>10}  total in {len(found)} entries under {cache_dir()}"
    )


def _cache_prune(args):
    from paddle_electra.utils.cache import cache_dir, human_size, prune

    if args.max_size is None and args.older_than is None and not args.all:
        raise UsageError("say what to remove: --older-than AGE, --max-size SIZE, or --all")
    # --all: every entry, folders being written included
    removed = prune(
        max_bytes=args.max_size, older_than=0 if args.all else args.older_than, dry_run=args.dry_run
    )
    done = "would remove" if args.dry_run else "removed"
    for entry in removed:
        print(f"{done} {human_size(entry['size']):>10}  {entry['path']}")
    print(
        f"{'would free' if args.dry_run else 'freed'} {human_size(sum(e['size'] for e in removed))} "
        f"in {len(removed)} entries under {cache_dir()}"
    )
