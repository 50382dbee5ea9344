"""save -> load round trips; our weights load into paddlenlp's own ELECTRA classes; static export."""

import os

import numpy as np
import paddle
import paddlenlp.transformers as paddlenlp_electra
import pytest
from conftest import TF_TINY, to_tensors
from safetensors.numpy import load_file

from paddle_electra import ElectraDiscriminator, ElectraGenerator, ElectraModel
from paddle_electra_convert import convert_tf_checkpoint

REF = np.load(os.path.join(TF_TINY, "reference.npz"))
INPUTS = (REF["input_ids"], REF["token_type_ids"], REF["attention_mask"])
CLASSES = {"discriminator": ElectraDiscriminator, "generator": ElectraGenerator}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("tiny") / "out")
    convert_tf_checkpoint(os.path.join(TF_TINY, "release"), out, progress=False)
    return out


def _out(model, *inputs):
    model.eval()
    return model(*to_tensors(*inputs)).numpy()


@pytest.mark.parametrize("tower", ["discriminator", "generator"])
def test_save_load_round_trip(converted, tower, tmp_path):
    model = CLASSES[tower].from_pretrained(os.path.join(converted, tower))
    model.save_pretrained(str(tmp_path), safe_serialization=True)
    again = CLASSES[tower].from_pretrained(str(tmp_path))
    assert np.array_equal(_out(model, *INPUTS), _out(again, *INPUTS))
    for (k, a), (k2, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert k == k2 and np.array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("tower", ["discriminator", "generator"])
def test_streamed_files_equal_what_save_pretrained_writes(converted, tower, tmp_path):
    """The converter writes model.safetensors tensor by tensor (convert/common.write_safetensors):
    the same tensors, dtypes, metadata and config.json as paddlenlp's save_pretrained of the model."""
    import json

    from safetensors import safe_open

    model = CLASSES[tower].from_pretrained(os.path.join(converted, tower))
    model.save_pretrained(str(tmp_path), safe_serialization=True)
    streamed, saved = (
        os.path.join(d, "model.safetensors") for d in (os.path.join(converted, tower), str(tmp_path))
    )
    a, b = load_file(streamed), load_file(saved)
    assert a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)
    assert safe_open(streamed, "np").metadata() == safe_open(saved, "np").metadata()
    with open(os.path.join(converted, tower, "config.json")) as f, open(tmp_path / "config.json") as g:
        assert json.load(f) == json.load(g)


def test_write_safetensors_mixed_dtypes_read_in_order(tmp_path):
    from paddle_electra_convert.common import write_safetensors

    arrays = {
        "b.weight": np.arange(6, dtype="float32").reshape(2, 3),
        "a.ids": np.array([3, -1], dtype="int64"),
        "c.half": np.ones([3], dtype="float16"),
        "d.flags": np.array([True, False, True]),
    }
    reads = []

    def read(name):
        reads.append(name)
        return arrays[name]

    write_safetensors(
        str(tmp_path / "m.safetensors"),
        {k: (v.dtype, v.shape) for k, v in arrays.items()},
        read,
        {"format": "np"},
    )
    assert reads == list(arrays)  # each tensor read once, in the layout's order
    back = load_file(str(tmp_path / "m.safetensors"))
    assert all(back[k].dtype == v.dtype and np.array_equal(back[k], v) for k, v in arrays.items())
    with pytest.raises(RuntimeError, match="header says"):
        write_safetensors(str(tmp_path / "x.safetensors"), {"b.weight": (np.dtype("float32"), (3, 2))}, read)


def _paddlenlp_outputs(model, ids, types, mask):
    """paddlenlp's classes, given what the original numerics need: every LayerNorm at epsilon 1e-12
    (its from_pretrained leaves the encoder's at paddle's 1e-5) and the mask passed additively."""
    for layer in model.sublayers():
        if isinstance(layer, paddle.nn.LayerNorm):
            layer._epsilon = 1e-12
    additive = paddle.to_tensor(((1.0 - mask) * -10000.0)[:, None, None, :].astype("float32"))
    model.eval()
    ids, types = to_tensors(ids, types)
    return model(ids, token_type_ids=types, attention_mask=additive).numpy()


@pytest.mark.parametrize("tower", ["discriminator", "generator"])
def test_weights_load_into_paddlenlp_classes(converted, tower):
    directory = os.path.join(converted, tower)
    theirs = getattr(paddlenlp_electra, CLASSES[tower].__name__).from_pretrained(directory)
    saved = load_file(os.path.join(directory, "model.safetensors"))
    assert set(theirs.state_dict()) == set(saved)  # no missing, no unexpected keys
    for name, value in theirs.state_dict().items():
        assert np.array_equal(value.numpy(), saved[name]), name
    ours = _out(CLASSES[tower].from_pretrained(directory), *INPUTS)
    np.testing.assert_allclose(_paddlenlp_outputs(theirs, *INPUTS), ours, atol=1e-5)


def test_encoder_weights_load_into_paddlenlp_electra_model(ltp_converted):
    theirs = paddlenlp_electra.ElectraModel.from_pretrained(ltp_converted)
    saved = load_file(os.path.join(ltp_converted, "model.safetensors"))
    assert set(theirs.state_dict()) == set(saved)
    ids = np.array([[101, 6821, 2157, 6983, 2421, 102, 0]])
    inputs = (ids, np.zeros_like(ids), (ids > 0).astype("int64"))
    ours = ElectraModel.from_pretrained(ltp_converted)
    mask = inputs[2].astype(bool)
    np.testing.assert_allclose(
        _paddlenlp_outputs(theirs, *inputs)[mask], _out(ours, *inputs)[mask], atol=1e-5
    )


@pytest.mark.parametrize("tower", ["discriminator", "generator"])
def test_to_static_export_matches_dygraph(converted, tower, tmp_path):
    model = CLASSES[tower].from_pretrained(os.path.join(converted, tower))
    model.eval()
    spec = [
        paddle.static.InputSpec([None, None], "int64", name)
        for name in ("input_ids", "token_type_ids", "attention_mask")
    ]
    paddle.jit.save(
        paddle.jit.to_static(model, input_spec=spec, full_graph=True), str(tmp_path / "inference")
    )
    loaded = paddle.jit.load(str(tmp_path / "inference"))
    np.testing.assert_allclose(loaded(*to_tensors(*INPUTS)).numpy(), _out(model, *INPUTS), atol=1e-5)
