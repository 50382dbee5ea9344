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

from .common import ConversionError, atomic_output_dir, check_shapes, check_vocab, empty_model, save_model_dir
from .names import is_optimizer_state, tower_params
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


def _load_config(path, ckpt, tower, embedding_scope, overrides):
    try:
        with open(path, encoding="utf-8") as f:
            original = json.load(f)
    except (OSError, ValueError) as e:
        raise ConversionError(f"cannot read the {tower} config {path} ({e}): pass --{tower}-config FILE") from e
    if "embedding_size" not in original:  # shared embeddings: their width is in the checkpoint
        entry = ckpt.entries.get(f"{embedding_scope}/embeddings/word_embeddings")
        if entry is not None:
            original["embedding_size"] = entry.shape[1]
    return ElectraConfig.from_original(original, **overrides)


def convert_tf_checkpoint(
    checkpoint,
    out_dir,
    discriminator_config=None,
    generator_config=None,
    vocab_file=None,
    do_lower_case=True,
    config_overrides=None,
    overwrite=False,
    progress=True,
):
    """Convert a TF ELECTRA checkpoint into `out_dir/discriminator` and `out_dir/generator`.

    checkpoint: a release directory (holding `checkpoint` or one `*.index`) or a checkpoint prefix.
    Configs and vocab default to the files beside the checkpoint. `config_overrides` (e.g. from
    the model zoo) are applied to both towers' configs. Returns a report dict: output directories,
    number of optimizer variables skipped, and the names of variables nothing used.
    """
    prefix = resolve_prefix(checkpoint)
    ckpt = TFCheckpoint(prefix)
    folder = os.path.dirname(os.path.abspath(prefix))
    vocab_file = vocab_file or os.path.join(folder, "vocab.txt")
    config_paths = {
        "discriminator": discriminator_config or _find_beside(folder, "discriminator"),
        "generator": generator_config or _find_beside(folder, "generator"),
    }
    if config_paths["discriminator"] is None:
        raise ConversionError(f"no discriminator config beside {prefix}: pass --discriminator-config FILE")
    has_generator = any(name.startswith("generator") for name in ckpt.entries)
    if config_paths["generator"] is None:
        if has_generator:
            raise ConversionError(f"{prefix} holds a generator but no generator config was found: pass --generator-config FILE")
        del config_paths["generator"]
        logger.warning("checkpoint has no generator: converting the discriminator only")

    plans = {}  # tower -> (model, params)
    for tower, config_path in config_paths.items():
        untied = tower == "generator" and "generator/embeddings/word_embeddings" in ckpt.entries
        embedding_scope = "generator" if untied else "electra"
        config = _load_config(config_path, ckpt, tower, embedding_scope, config_overrides or {})
        model = empty_model(TOWERS[tower], config)
        params = tower_params(config, tower, tf_embedding_scope=embedding_scope)
        found = {p.ours: (p.tf, ckpt.entries[p.tf].shape if p.tf in ckpt.entries else None) for p in params}
        check_shapes(model, found, tower, f"--{tower}-config")
        plans[tower] = (model, params)
    check_vocab(vocab_file, plans["discriminator"][0].config.vocab_size)

    used = {p.tf for _, params in plans.values() for p in params}
    skipped = [n for n in ckpt.entries if n not in used and is_optimizer_state(n)]
    unused = sorted(n for n in ckpt.entries if n not in used and not is_optimizer_state(n))
    total = sum(ckpt.entries[p.tf].size for _, params in plans.values() for p in params)
    with atomic_output_dir(out_dir, overwrite=overwrite) as tmp:
        with tqdm(total=total, unit="B", unit_scale=True, desc="reading TF checkpoint", disable=not progress) as bar:
            for tower, (model, params) in plans.items():
                weights = {}
                for p in params:
                    weights[p.ours] = ckpt.read(p.tf)
                    bar.update(ckpt.entries[p.tf].size)
                save_model_dir(model, weights, vocab_file, do_lower_case, os.path.join(tmp, tower))
    if unused:
        logger.warning("%d checkpoint variable(s) were not used: %s", len(unused), ", ".join(unused))
    return {
        **{tower: os.path.join(os.path.abspath(out_dir), tower) for tower in plans},
        "optimizer_variables_skipped": len(skipped),
        "unused_variables": unused,
    }
