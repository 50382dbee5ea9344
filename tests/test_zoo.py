"""The model zoo: every released model by name, exact architectures, and `convert tf --model`."""

import os

import pytest
from conftest import TF_TINY
from paddlenlp.transformers.model_utils import no_init_weights

from paddle_electra import ElectraConfig, ElectraDiscriminator, ElectraGenerator
from paddle_electra.cli import main
from paddle_electra.sources.zoo import MODELS, get_model

RELEASED = (
    [f"chinese-electra-{s}" for s in ("small", "small-ex", "base", "large")]
    + [f"chinese-electra-180g-{s}" for s in ("small", "small-ex", "base", "large")]
    + [f"chinese-legal-electra-{s}" for s in ("small", "base", "large")]
    + [f"koelectra-{s}-{v}" for v in ("v1", "v2", "v3") for s in ("small", "base")]
)


def test_zoo_holds_exactly_the_released_models(capsys):
    assert sorted(MODELS) == sorted(RELEASED)
    assert main(["zoo"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert sorted(listed) == sorted(RELEASED)


def test_architectures_and_vocabulary_facts():
    base = get_model("chinese-electra-base")
    assert (base.embedding_size, base.discriminator.hidden_size, base.generator.hidden_size) == (
        768,
        768,
        192,
    )
    assert (base.generator.num_attention_heads, base.vocab_size, base.do_lower_case) == (3, 21128, True)
    assert (
        get_model("chinese-electra-180g-large").discriminator
        == get_model("chinese-electra-large").discriminator
    )
    assert get_model("chinese-electra-small-ex").discriminator.num_hidden_layers == 24
    assert (get_model("koelectra-base-v3").vocab_size, get_model("koelectra-small-v1").vocab_size) == (
        35000,
        32200,
    )
    assert not get_model("koelectra-small-v2").do_lower_case
    assert get_model("chinese-electra-base").release == "chinese_electra_base_L-12_H-768_A-12.zip"
    with pytest.raises(KeyError, match="chinese-electra-base"):
        get_model("chinese-electra-huge")


@pytest.mark.parametrize("name", ["chinese-electra-small", "chinese-electra-base", "koelectra-small-v3"])
def test_parameter_counts_equal_the_built_models(name):
    entry = get_model(name)
    for tower, cls in (("discriminator", ElectraDiscriminator), ("generator", ElectraGenerator)):
        with no_init_weights():
            model = cls(ElectraConfig(**entry.architecture(tower)))
        assert entry.parameters(tower) == sum(p.size for p in model.parameters())
    assert round(entry.parameters("discriminator") / 1e6) in {12, 102, 14}  # HFL publishes 12M / 102M


def test_model_that_does_not_match_the_checkpoint_is_rejected(tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        "convert",
        "tf",
        os.path.join(TF_TINY, "release"),
        "--model",
        "chinese-electra-small",
        "--out",
        str(out),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "chinese-electra-small discriminator" in err and "--model" in err
    assert not out.exists()


def test_unknown_model_and_conflicting_flags(tmp_path, capsys):
    release = os.path.join(TF_TINY, "release")
    assert main(["convert", "tf", release, "--model", "nope", "--out", str(tmp_path / "a")]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    argv = [
        "convert",
        "tf",
        release,
        "--model",
        "chinese-electra-small",
        "--discriminator-config",
        os.path.join(release, "discriminator.json"),
        "--out",
        str(tmp_path / "b"),
    ]
    assert main(argv) == 2
    assert "either --model or" in capsys.readouterr().err


def test_release_zip_converts_with_model_alone(tmp_path):
    """A checkpoint with chinese-electra-small's real shapes, laid out like HFL's release zip (weights,
    `checkpoint`, vocab.txt, no config json): `--model` supplies the architecture."""
    import numpy as np
    from tf_bundle_writer import write_checkpoint

    from paddle_electra_convert.names import tower_params

    entry = get_model("chinese-electra-small")
    rng = np.random.default_rng(0)
    variables = {"global_step": np.array(7, dtype=np.int64)}
    for tower, cls in (("discriminator", ElectraDiscriminator), ("generator", ElectraGenerator)):
        with no_init_weights():
            shapes = {
                k: v.shape for k, v in cls(ElectraConfig(**entry.architecture(tower))).state_dict().items()
            }
        for p in tower_params(ElectraConfig(**entry.architecture(tower)), tower):
            variables[p.tf] = rng.normal(0, 0.02, shapes[p.ours]).astype(np.float32)
    release = tmp_path / "chinese_electra_small_L-12_H-256_A-4"
    release.mkdir()
    write_checkpoint(str(release / "electra_small"), variables)
    (release / "checkpoint").write_text('model_checkpoint_path: "electra_small"\n')
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    (release / "vocab.txt").write_text(
        "".join(f"{t}\n" for t in specials + [f"w{i}" for i in range(entry.vocab_size - 5)])
    )

    out = tmp_path / "out"
    assert (
        main(
            ["convert", "tf", str(release), "--model", "chinese-electra-small", "--out", str(out), "--quiet"]
        )
        == 0
    )
    disc = ElectraDiscriminator.from_pretrained(str(out / "discriminator"))
    gen = ElectraGenerator.from_pretrained(str(out / "generator"))
    assert disc.config.architecture() == entry.architecture("discriminator")
    assert gen.config.architecture() == entry.architecture("generator")
    query = "electra/encoder/layer_11/attention/self/query/kernel"
    assert np.array_equal(
        disc.state_dict()["electra.encoder.layers.11.self_attn.q_proj.weight"].numpy(), variables[query]
    )
    assert np.array_equal(
        gen.state_dict()["generator_lm_head_bias"].numpy(), variables["generator_predictions/output_bias"]
    )
