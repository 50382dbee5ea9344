"""Model names -> model directories: what lets `from_pretrained("chinese-electra-180g-base")` work.

`resolve(name_or_path, tower)` returns a directory that `from_pretrained` can read:

1. an existing local directory is used as it is (it wins over every name);
2. a zoo name (`paddle-electra zoo`) means that model's `tower` ("discriminator" for ElectraModel,
   ElectraDiscriminator, the task heads and the tokenizer; "generator" for ElectraGenerator);
3. a Hub repo id (`owner/repo`, e.g. "hfl/chinese-electra-180g-base-discriminator") means that repo;
   a zoo model's repo id is the zoo model's tower, any other ELECTRA repo is converted by its own
   config.json (checked against its tensors);
4. anything else is returned unchanged: the model classes then refuse it (they load directories
   only, see weights.py), and ElectraTokenizer hands it to paddlenlp (whose built-in names, such as
   "electra-small", work there). Our zoo names win over paddlenlp's where both exist
   ("chinese-electra-small", "chinese-electra-base").

A repo is converted once into the cache, `<cache>/models/<owner>--<repo>` (`cached_dir`); later
uses read that directory and touch no network, also with HF_HUB_OFFLINE=1. The first use fetches
the repo (paddle_electra.sources.fetch) and converts it with the torch-free HF converter.
"""

import os
import re

from paddle_electra.sources.zoo import MODELS
from paddle_electra.utils.cache import cache_dir

TOWERS = ("discriminator", "generator")
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def hf_hub_repo(name, tower="discriminator"):
    """The Hub repo id that `name` (a zoo name or a repo id) stands for, else None."""
    if not isinstance(name, str):
        return None
    if name in MODELS and MODELS[name].hub:
        return MODELS[name].hf_hub_repo(tower)
    if _REPO_ID.fullmatch(name) and ".." not in name:
        return name
    return None


def is_model_name(name):
    """True for a zoo name or a Hub repo id that is not a local directory."""
    return isinstance(name, str) and not os.path.isdir(name) and hf_hub_repo(name) is not None


def cached_dir(repo_id, revision=None):
    """Where the converted repo lives in the cache."""
    key = repo_id.replace("/", "--") + (f"@{revision}" if revision else "")
    return os.path.join(cache_dir(), "models", key)


def is_cached(repo_id, revision=None):
    return os.path.isfile(os.path.join(cached_dir(repo_id, revision), "config.json"))


def resolve(name_or_path, tower="discriminator", revision=None, progress=True):
    """A directory for `name_or_path` (see the module docstring): fetched and converted into the
    cache on first use of a name."""
    if not is_model_name(name_or_path):
        return name_or_path
    repo = hf_hub_repo(name_or_path, tower)
    if not is_cached(repo, revision):
        _cache_repo()(repo, revision=revision, progress=progress)
    return cached_dir(repo, revision)


def _cache_repo():
    # The converters (paddle_electra_convert) import this package, so it cannot import them at module
    # level without a cycle, and the model needs them for nothing else. Turning a fetched Hub repo into
    # a model directory is the one place that reaches them, at first use of a name that is not cached.
    from paddle_electra_convert.download import cache_repo

    return cache_repo
