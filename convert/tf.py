"""Original TF1 ELECTRA checkpoint (google-research/electra, HFL Chinese-ELECTRA, KoELECTRA) -> Paddle.

    convert_tf_checkpoint("chinese_electra_base/", "out/")  # writes out/discriminator, out/generator

Reads the checkpoint with `tf_checkpoint.TFCheckpoint` (no TensorFlow), maps names with
`names.tower_params`, checks every variable the configs need exists with the right shape, skips
optimizer state, reports variables nothing used, and writes both model directories at once or
not at all.
"""

import glob
import json
import logging
import os

from tqdm import tqdm

from paddle_electra import ElectraConfig, ElectraDiscriminator, ElectraGenerator
from paddle_electra.models.architecture import check_architecture
from paddle_electra.models.weights import LoadError
from paddle_electra.sources.zoo import get_model

from .common import ConversionError, atomic_output_dir, check_shapes, check_vocab, empty_model, save_model_dir
from .names import TF_SCOPES, is_optimizer_state, tower_params
from .tf_checkpoint import TFCheckpoint, resolve_prefix

logger = logging.getLogger(__name__)

TOWERS = {"discriminator": ElectraDiscriminator, "generator": ElectraGenerator}


def _find_beside(folder, tower):
    """`discriminator.json` / `generator.json`, or a release's `*discriminator*config*.json`."""
    exact = os.path.join(folder, f"{tower}.json")
    if os.path.isfile(exact):
        return exact
    found = sorted(glob.glob(os.path.join(folder, f"*{tower}*.json")))
    return found[0] if len(found) == 1 else None


def _load_config(path, ckpt, tower, embedding_scope):
    try:
        with open(path, encoding="utf-8") as f:
            original = json.load(f)
    except (OSError, ValueError) as e:
        raise ConversionError(
            f"cannot read the {tower} config {path} ({e}): pass --{tower}-config FILE"
        ) from e
    if not isinstance(original, dict):
        raise ConversionError(
            f"{path} holds a JSON {type(original).__name__} instead of an object: pass --{tower}-config FILE"
        )
    if "embedding_size" not in original:  # shared embeddings: their width is in the checkpoint
        entry = ckpt.entries.get(f"{embedding_scope}/embeddings/word_embeddings")
        if entry is not None:
            original["embedding_size"] = entry.shape[1]
    try:
        return ElectraConfig.from_original(original)
    except LoadError as e:
        raise ConversionError(f"{path}: {e}: pass --{tower}-config FILE") from None


def _tower_configs(ckpt, prefix, model_name, config_paths):
    """tower -> (ElectraConfig, what to call it in errors, the flag that fixes a mismatch)."""
    has_generator = any(name.startswith("generator") for name in ckpt.entries)
    if model_name:
        if any(config_paths.values()):
            raise ConversionError(
                "pass either --model or --discriminator-config/--generator-config, not both"
            )
        try:
            entry = get_model(model_name)
        except KeyError as e:
            raise ConversionError(e.args[0]) from None
        towers = TOWERS if has_generator else ["discriminator"]
        return {
            t: (
                ElectraConfig(**entry.architecture(t)),
                f"{model_name} {t}",
                "--model (list: paddle-electra zoo)",
            )
            for t in towers
        }

    folder = os.path.dirname(os.path.abspath(prefix))
    paths = {t: config_paths.get(t) or _find_beside(folder, t) for t in TOWERS}
    if paths["discriminator"] is None:
        raise ConversionError(
            f"no discriminator config beside {prefix}: "
            "pass --model NAME (see paddle-electra zoo) or --discriminator-config FILE"
        )
    if paths["generator"] is None:
        if has_generator:
            raise ConversionError(
                f"{prefix} holds a generator but no generator config was found: "
                "pass --model NAME or --generator-config FILE"
            )
        del paths["generator"]
    configs = {}
    for tower, path in paths.items():
        configs[tower] = (
            _load_config(path, ckpt, tower, _embedding_scope(ckpt, tower)),
            tower,
            f"--{tower}-config",
        )
    return configs


def _embedding_scope(ckpt, tower):
    untied = tower == "generator" and "generator/embeddings/word_embeddings" in ckpt.entries
    return "generator" if untied else "electra"


def convert_tf_checkpoint(
    checkpoint,
    out_dir,
    model_name=None,
    discriminator_config=None,
    generator_config=None,
    vocab_file=None,
    do_lower_case=None,
    overwrite=False,
    progress=True,
):
    """Convert a TF ELECTRA checkpoint into `out_dir/discriminator` and `out_dir/generator`.

    checkpoint: a release directory (holding `checkpoint` or one `*.index`) or a checkpoint prefix.
    model_name: a zoo name (`paddle_electra.sources.zoo`): both towers' architecture and lower-casing
    come from the zoo and the checkpoint must match it. Otherwise configs default to the json files
    beside the checkpoint. vocab.txt defaults to the one beside it. do_lower_case: None = the zoo's
    value, else True. Returns a report dict: output directories, number of optimizer variables
    skipped, and the names of variables nothing used.
    """
    prefix = resolve_prefix(checkpoint)
    ckpt = TFCheckpoint(prefix)
    vocab_file = vocab_file or os.path.join(os.path.dirname(os.path.abspath(prefix)), "vocab.txt")
    configs = _tower_configs(
        ckpt, prefix, model_name, {"discriminator": discriminator_config, "generator": generator_config}
    )
    if "generator" not in configs:
        logger.warning("checkpoint has no generator: converting the discriminator only")
    if do_lower_case is None:
        do_lower_case = get_model(model_name).do_lower_case if model_name else True

    plans = _plans(ckpt, configs)
    check_vocab(vocab_file, plans["discriminator"][0].config.vocab_size)

    used = {p.tf for _, params in plans.values() for p in params}
    skipped = [n for n in ckpt.entries if n not in used and is_optimizer_state(n)]
    unused = sorted(n for n in ckpt.entries if n not in used and not is_optimizer_state(n))
    with atomic_output_dir(
        out_dir, overwrite, inputs=(checkpoint, vocab_file, discriminator_config, generator_config)
    ) as tmp:
        _write_towers(ckpt, plans, vocab_file, do_lower_case, tmp, progress)
    if unused:
        logger.warning("%d checkpoint variable(s) were not used: %s", len(unused), ", ".join(unused))
    return {
        **{tower: os.path.join(os.path.abspath(out_dir), tower) for tower in plans},
        "optimizer_variables_skipped": len(skipped),
        "unused_variables": unused,
    }


def _plans(ckpt, configs):
    """tower -> (empty model, its params), once every variable a tower needs is in the checkpoint
    with the right shape."""
    plans = {}
    for tower, (config, what, flag) in configs.items():
        try:  # before the model is built: a config that disagrees with the checkpoint builds nothing
            check_architecture(
                config.architecture(), _tower_shapes(ckpt, tower), what, "tf", f"pass the right {flag}"
            )
        except LoadError as e:
            raise ConversionError(str(e)) from None
        model = empty_model(TOWERS[tower], config)
        params = tower_params(config, tower, tf_embedding_scope=_embedding_scope(ckpt, tower))
        found = {p.ours: (p.tf, ckpt.entries[p.tf].shape if p.tf in ckpt.entries else None) for p in params}
        check_shapes(model, found, what, flag)
        plans[tower] = (model, params)
    return plans


def _tower_shapes(ckpt, tower):
    """{name relative to its scope: shape} of a tower's encoder and embeddings, from the index alone."""
    scopes = (TF_SCOPES[tower] + "/encoder/", _embedding_scope(ckpt, tower) + "/embeddings/")
    return {
        name.split("/", 1)[1]: entry.shape
        for name, entry in ckpt.entries.items()
        if name.startswith(scopes) and not is_optimizer_state(name)
    }


def _write_towers(ckpt, plans, vocab_file, do_lower_case, out_dir, progress):
    """Write each tower's model directory under `out_dir`, reading each variable only when the
    writer gets to it (one tensor in memory at a time), with a progress bar in bytes."""
    total = sum(ckpt.entries[p.tf].size for _, params in plans.values() for p in params)
    with tqdm(
        total=total, unit="B", unit_scale=True, desc="converting TF checkpoint", disable=not progress
    ) as bar:

        def reader(name):  # read when the writer gets to it: one tensor in memory at a time
            def read():
                bar.update(ckpt.entries[name].size)
                return ckpt.read(name)

            return read

        for tower, (model, params) in plans.items():
            weights = {p.ours: reader(p.tf) for p in params}
            save_model_dir(model, weights, vocab_file, do_lower_case, os.path.join(out_dir, tower))
