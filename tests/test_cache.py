"""The cache stays bounded: every entry listed with its size and last use, pruning by age and by
size (least recently used first), a size cap on the static exports, temporary exports for one-off
predictions (nothing cached by the evaluation at the end of fine-tuning)."""

import os
import time

import numpy as np
import pytest
from conftest import DATA, TF_TINY

from paddle_electra.cli import main
from paddle_electra.runtime.export import cached_export, load_model
from paddle_electra.runtime.predictor import Predictor
from paddle_electra.utils import cache
from paddle_electra_convert import convert_tf_checkpoint

REF = np.load(os.path.join(TF_TINY, "reference.npz"))
FEED = {
    "input_ids": REF["input_ids"],
    "token_type_ids": REF["token_type_ids"],
    "attention_mask": REF["attention_mask"],
}


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    root.mkdir()
    monkeypatch.setenv("PADDLE_ELECTRA_CACHE", str(root))
    return root


def _entry(path, size, hours_ago, files=1):
    path.mkdir(parents=True)
    for i in range(files):
        (path / f"f{i}").write_bytes(b"x" * (size // files))
    used = time.time() - hours_ago * 3600
    os.utime(path, (used, used))
    return str(path)


@pytest.fixture
def filled(cache_root):
    """static/ (two exports), kernels/ (one build), ltp_tiny/ (files: one entry), a file at the top."""
    paths = {
        "old_export": _entry(cache_root / "static" / "aaa", 3000, hours_ago=48, files=2),
        "new_export": _entry(cache_root / "static" / "bbb", 2000, hours_ago=1),
        "kernels": _entry(cache_root / "kernels" / "k1", 500, hours_ago=5),
        "partial": _entry(cache_root / "static" / ".ccc.partial-x1", 4000, hours_ago=2),
    }
    (cache_root / "ltp_tiny").mkdir()
    (cache_root / "ltp_tiny" / "vocab.txt").write_bytes(b"v" * 1000)
    (cache_root / "ltp_tiny" / "sub").mkdir()
    used = time.time() - 24 * 3600
    os.utime(cache_root / "ltp_tiny", (used, used))
    paths["ltp"] = str(cache_root / "ltp_tiny")
    return paths


def test_every_entry_is_listed_with_size_and_last_use(filled):
    found = cache.entries()
    assert [e["path"] for e in found] == [
        filled[k] for k in ("old_export", "ltp", "kernels", "partial", "new_export")
    ]
    assert [e["size"] for e in found] == [3000, 1000, 500, 4000, 2000]
    assert [e["group"] for e in found] == ["static", "", "kernels", "static", "static"]


def test_prune_by_age_then_by_size_least_recently_used_first(filled):
    assert [e["path"] for e in cache.prune(older_than=30 * 3600, dry_run=True)] == [filled["old_export"]]
    assert os.path.isdir(filled["old_export"])  # a dry run removes nothing
    removed = cache.prune(max_bytes=6600)  # 10,500 in all: the two least recently used entries go
    assert [e["path"] for e in removed] == [filled["old_export"], filled["ltp"]]
    assert not os.path.exists(filled["old_export"]) and not os.path.exists(filled["ltp"])
    # a folder being written is never evicted by size, only by age; `keep` is never evicted
    assert [e["path"] for e in cache.prune(max_bytes=0, keep={filled["kernels"]})] == [filled["new_export"]]
    assert [e["path"] for e in cache.prune(older_than=3600)] == [filled["kernels"], filled["partial"]]
    assert cache.entries() == []


def test_sizes_and_ages_parse():
    assert (
        cache.parse_size("2G") == 2 << 30
        and cache.parse_size("500m") == 500 << 20
        and cache.parse_size("1.5KiB") == 1536
    )
    assert (
        cache.parse_age("30d") == 30 * 86400
        and cache.parse_age("12h") == 43200
        and cache.parse_age("90") == 90
    )
    for bad in ("", "2X", "-1G"):
        with pytest.raises(ValueError):
            cache.parse_size(bad)


def test_cache_commands(filled, cache_root, capsys):
    assert main(["cache", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[-1] for line in lines[:-1]] == [
        filled[k] for k in ("new_export", "partial", "kernels", "ltp", "old_export")
    ]
    assert "total in 5 entries" in lines[-1] and str(cache_root) in lines[-1]
    assert main(["cache", "prune", "--older-than", "30h", "--dry-run"]) == 0
    assert "would remove" in capsys.readouterr().out and os.path.isdir(filled["old_export"])
    assert main(["cache", "prune", "--older-than", "30h"]) == 0
    assert not os.path.exists(filled["old_export"]) and os.path.isdir(filled["ltp"])
    assert main(["cache", "prune"]) == 2
    assert "--older-than" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["cache", "prune", "--max-size", "lots"])
    assert "not a size" in capsys.readouterr().err
    assert main(["cache", "prune", "--all"]) == 0
    assert cache.entries() == []


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "converted"
    convert_tf_checkpoint(os.path.join(TF_TINY, "release"), str(out), progress=False)
    return str(out / "discriminator")


def _other_weights(model, factor):
    import paddle

    with paddle.no_grad():
        model.discriminator_predictions.dense_prediction.weight.set_value(
            model.discriminator_predictions.dense_prediction.weight * factor
        )
    return model


def test_the_export_cache_evicts_the_least_recently_used_beyond_its_cap(tiny, cache_root, monkeypatch):
    first = cached_export(load_model(tiny))
    size = cache.entries()[0]["size"]
    monkeypatch.setenv("PADDLE_ELECTRA_EXPORT_CACHE_MAX", str(int(size * 2.5)))  # room for two exports
    second = cached_export(_other_weights(load_model(tiny), 2))
    assert cached_export(load_model(tiny)) == first  # used again: now the most recent
    third = cached_export(_other_weights(load_model(tiny), 3))
    assert os.path.isdir(first) and os.path.isdir(third) and not os.path.exists(second)
    assert sum(e["size"] for e in cache.entries()) <= size * 2.5


def test_a_temporary_export_leaves_nothing_in_the_cache(tiny, cache_root):
    model = load_model(tiny)
    temporary = Predictor(model, cache=False)
    np.testing.assert_allclose(temporary(**FEED)[0], Predictor(tiny, backend="dygraph")(**FEED)[0], atol=1e-4)
    assert not os.path.exists(cache_root / "static")
    directory = temporary.directory
    temporary.close()
    assert not os.path.exists(directory)
    again = Predictor(model, cache=False)
    directory = again.directory
    del again  # also removed when the Predictor goes
    assert not os.path.exists(directory)


def test_the_evaluation_after_fine_tuning_caches_no_export(tiny, cache_root, tmp_path):
    from paddle_electra.training.finetune import finetune

    metrics = finetune(
        "chnsenticorp",
        tiny,
        os.path.join(DATA, "chnsenticorp"),
        str(tmp_path / "model"),
        max_steps=1,
        batch_size=8,
        max_seq_length=24,
    )
    assert 0 <= metrics["accuracy"] <= 1
    assert not os.path.exists(cache_root / "static")
