"""Models by name: fetch a Hub repo (paddle_electra.sources.fetch), convert it with the torch-free HF
converter and check it against the zoo.

    download("chinese-electra-180g-base")                 # both towers, into the cache
    download("chinese-electra-180g-base", out="electra")  # electra/discriminator, electra/generator
    cache_repo("hfl/chinese-electra-180g-base-discriminator")  # one repo, into the cache

A zoo model's architecture comes from the zoo and the tensors must match it: one HFL generator repo
once shipped its discriminator's config.json, so a config.json that disagrees with the zoo is
overridden, with a warning. Any other ELECTRA repo is converted by its own config.json, checked
against its tensors. The cache is filled through `paddle_electra.utils.cache.staged`: an interrupted or
failed download or conversion leaves nothing there but a `.NAME.partial-*` folder.
"""

import json
import os

from paddle_electra.sources.fetch import hf_hub_model_files
from paddle_electra.sources.pretrained import TOWERS, cached_dir, hf_hub_repo, is_cached
from paddle_electra.sources.zoo import MODELS, find_hf_hub_repo
from paddle_electra.utils.cache import staged

from .common import ConversionError
from .hf import TOWERS as HF_TOWERS
from .hf import convert_hf


def _alternative(entry, repo_id):
    if entry is None:
        return f"or fetch the files of {repo_id} yourself and run `paddle-electra convert hf DIR`"
    return (
        f"or download {entry.release} (the original release) and run "
        f"`paddle-electra convert tf DIR --model {entry.name}`"
    )


def convert_repo(repo_id, out_dir, revision=None, progress=True, overwrite=False):
    """Fetch `repo_id` and convert it into the model directory `out_dir`; returns convert_hf's report."""
    entry, tower = find_hf_hub_repo(repo_id)
    local = hf_hub_model_files(
        repo_id, revision=revision, progress=progress, alternative=_alternative(entry, repo_id)
    )
    if entry is None:
        return convert_hf(local, out_dir, overwrite=overwrite)
    return convert_hf(
        local,
        out_dir,
        overwrite=overwrite,
        do_lower_case=entry.do_lower_case,
        tower=tower,
        architecture=entry.architecture(tower),
        config_source=f"the zoo's {entry.name} {tower} ({repo_id} does not hold it)",
    )


def cache_repo(repo_id, revision=None, progress=True):
    """The cached model directory of `repo_id`, fetched and converted if it is not there yet."""
    final = cached_dir(repo_id, revision)
    if not is_cached(repo_id, revision):
        with staged(final) as tmp:
            convert_repo(repo_id, tmp, revision=revision, progress=progress, overwrite=True)
    return final


def download(name, out=None, towers=None, revision=None, progress=True, overwrite=False):
    """Fetch and convert a zoo model's towers (default both) or one Hub repo. Returns {tower: directory}.

    Without `out` the results go to the cache. With `out`, a zoo name writes out/<tower> (as
    `convert tf` does) and a repo id writes the model directory `out` (as `convert hf` does)."""
    if name in MODELS:
        entry = MODELS[name]
        repos = {tower: entry.hf_hub_repo(tower) for tower in towers or TOWERS}
    elif hf_hub_repo(name) is not None:
        if towers:
            raise ConversionError(
                f"{name} is one Hub repo, so it has one tower: drop --tower (zoo names have two)"
            )
        repos = {None: name}
    else:
        raise ConversionError(
            f"unknown model {name!r}: pass a zoo name (list: paddle-electra zoo) or a Hub repo id such as "
            "hfl/chinese-electra-180g-base-discriminator"
        )
    written = {}
    for tower, repo in repos.items():
        if out is None:
            directory = cache_repo(repo, revision=revision, progress=progress)
        else:
            directory = out if tower is None else os.path.join(out, tower)
            convert_repo(repo, directory, revision=revision, progress=progress, overwrite=overwrite)
        written[tower or _tower_of(directory)] = directory
    return written


def _tower_of(directory):
    with open(os.path.join(directory, "config.json"), encoding="utf-8") as f:
        architecture = (json.load(f).get("architectures") or ["ElectraModel"])[0]
    return {cls.__name__: tower for tower, cls in HF_TOWERS.items()}.get(architecture, "encoder")
