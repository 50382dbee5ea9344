"""TF checkpoint -> Paddle: outputs equal the original code's (shared fixture) and HF's (own fixture)."""

import os

import numpy as np
import pytest
from conftest import TF_TINY, max_abs_on, to_tensors
from safetensors.numpy import load_file

from paddle_electra import ElectraDiscriminator, ElectraGenerator
from paddle_electra_convert import convert_tf_checkpoint

TOL = 1e-5


def _run_both(converted, ids, types, mask):
    disc = ElectraDiscriminator.from_pretrained(os.path.join(converted, "discriminator"))
    gen = ElectraGenerator.from_pretrained(os.path.join(converted, "generator"))
    disc.eval(), gen.eval()
    rtd, disc_states = disc(*to_tensors(ids, types, mask), output_hidden_states=True)
    mlm, gen_states = gen(*to_tensors(ids, types, mask), output_hidden_states=True)
    return rtd.numpy(), [h.numpy() for h in disc_states], mlm.numpy(), [h.numpy() for h in gen_states]


def test_shared_fixture_matches_original_code(converted_shared, shared_tf_dir):
    ref = np.load(os.path.join(shared_tf_dir, "reference.npz"))
    mask = ref["input_mask"]
    rtd, disc_states, mlm, gen_states = _run_both(
        converted_shared, ref["input_ids"], ref["segment_ids"], mask
    )
    assert max_abs_on(disc_states[0], ref["disc_embedding_output"], mask) < TOL
    assert max_abs_on(disc_states[-1], ref["disc_sequence_output"], mask) < TOL
    assert max_abs_on(rtd, ref["rtd_logits"], mask) < TOL
    assert max_abs_on(gen_states[-1], ref["gen_sequence_output"], mask) < TOL
    assert max_abs_on(mlm, ref["gen_logits"], mask) < TOL


@pytest.mark.parametrize("flavour", ["release", "training"])
def test_own_fixture_matches_hf_transformers(flavour, tmp_path):
    """Our own TF fixture (scripts/make_tf_fixture.py): embedding 24 != both hidden sizes."""
    report = convert_tf_checkpoint(os.path.join(TF_TINY, flavour), str(tmp_path / "out"), progress=False)
    assert report["unused_variables"] == []
    assert (report["optimizer_variables_skipped"] > 0) == (flavour == "training")
    ref = np.load(os.path.join(TF_TINY, "reference.npz"))
    mask = ref["attention_mask"]
    rtd, disc_states, mlm, gen_states = _run_both(
        str(tmp_path / "out"), ref["input_ids"], ref["token_type_ids"], mask
    )
    assert max_abs_on(disc_states[-1], ref["disc_hidden_states"], mask) < TOL
    assert max_abs_on(rtd, ref["rtd_logits"], mask) < TOL
    assert max_abs_on(gen_states[-1], ref["gen_hidden_states"], mask) < TOL
    assert max_abs_on(mlm, ref["gen_logits"], mask) < TOL


def test_release_and_training_checkpoints_give_identical_weights(tmp_path):
    for flavour in ("release", "training"):
        convert_tf_checkpoint(os.path.join(TF_TINY, flavour), str(tmp_path / flavour), progress=False)
    for tower in ("discriminator", "generator"):
        a = load_file(str(tmp_path / "release" / tower / "model.safetensors"))
        b = load_file(str(tmp_path / "training" / tower / "model.safetensors"))
        assert a.keys() == b.keys()
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_generator_shares_the_discriminator_embeddings(tmp_path):
    convert_tf_checkpoint(os.path.join(TF_TINY, "release"), str(tmp_path / "out"), progress=False)
    d = load_file(str(tmp_path / "out" / "discriminator" / "model.safetensors"))
    g = load_file(str(tmp_path / "out" / "generator" / "model.safetensors"))
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        key = f"electra.embeddings.{name}.weight"
        assert np.array_equal(d[key], g[key])
    assert d["electra.embeddings_project.weight"].shape != g["electra.embeddings_project.weight"].shape


def test_checkpoint_prefix_and_index_file_are_accepted(tmp_path):
    prefix = os.path.join(TF_TINY, "training", "model.ckpt-3")
    for i, path in enumerate([prefix, prefix + ".index", prefix + ".data-00000-of-00001"]):
        report = convert_tf_checkpoint(path, str(tmp_path / str(i)), progress=False)
        assert os.path.isfile(os.path.join(report["discriminator"], "model.safetensors"))
