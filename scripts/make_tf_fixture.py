"""Write the tiny TF1 ELECTRA checkpoint fixture and its HF-PyTorch reference outputs.

Produces, under tests/fixtures/tf_tiny/:
  training/  model.ckpt-3.{index,data-00000-of-00001,meta} + `checkpoint`: every weight,
             an adam_m/adam_v slot for each weight, and an int64 `global_step` (= 3),
             named exactly like the google-research/electra pretraining code names them.
  release/   electra_model.{index,data-00000-of-00001,meta}: weights only (no slots,
             no global_step, no `checkpoint` file), like the HFL release zips.
  both:      discriminator.json, generator.json (BERT-style configs + embedding_size)
             and vocab.txt (the 588-token vocab of the shared small_like fixture).
  reference.npz  outputs of an independent implementation (HF transformers, PyTorch,
             weights read with transformers.load_tf_weights_in_electra) on fixed inputs:
             input_ids, token_type_ids, attention_mask (int64, [3, 12]),
             disc_hidden_states [3,12,32], rtd_logits [3,12],
             gen_hidden_states [3,12,16], gen_logits [3,12,588] (float32).

It also loads the shared fixture (written by the original ELECTRA code) the same way and
prints the max abs difference against its reference.npz, which validates the recipe.

Sizes differ from the shared fixture on purpose: embedding 24, discriminator 32/64/2 layers/
2 heads, generator 16/32/2 layers/1 head, 64 positions. Weights are seeded normals rounded
to a 2**-8 grid (and Adam slots to coarse grids) so the committed files compress well.

Needs the reference env only (see scripts/requirements-reference.txt); run from the repo root:
    $PADDLE_ELECTRA_REF_PYTHON scripts/make_tf_fixture.py
"""

import argparse
import contextlib
import io
import json
import os
import shutil

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "tests", "fixtures", "tf_small_like")  # written by the original ELECTRA code
BASE = dict(
    vocab_size=588,
    hidden_act="gelu",
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    max_position_embeddings=64,
    type_vocab_size=2,
    initializer_range=0.02,
    embedding_size=24,
)
DISC = dict(BASE, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
GEN = dict(BASE, hidden_size=16, num_hidden_layers=2, num_attention_heads=1, intermediate_size=32)


def weight_shapes(disc, gen):
    """name -> shape, exactly as the original ELECTRA pretraining graph names its weights."""
    V, E = disc["vocab_size"], disc["embedding_size"]
    s = {
        "electra/embeddings/word_embeddings": (V, E),
        "electra/embeddings/position_embeddings": (disc["max_position_embeddings"], E),
        "electra/embeddings/token_type_embeddings": (disc["type_vocab_size"], E),
        "electra/embeddings/LayerNorm/gamma": (E,),
        "electra/embeddings/LayerNorm/beta": (E,),
    }

    def dense(name, n_in, n_out):
        s[name + "/kernel"], s[name + "/bias"] = (n_in, n_out), (n_out,)

    def layer_norm(name, n):
        s[name + "/gamma"], s[name + "/beta"] = (n,), (n,)

    for scope, cfg in (("electra", disc), ("generator", gen)):
        H, F = cfg["hidden_size"], cfg["intermediate_size"]
        dense(f"{scope}/embeddings_project", E, H)
        for i in range(cfg["num_hidden_layers"]):
            p = f"{scope}/encoder/layer_{i}/"
            for n in ("query", "key", "value"):
                dense(p + "attention/self/" + n, H, H)
            dense(p + "attention/output/dense", H, H)
            layer_norm(p + "attention/output/LayerNorm", H)
            dense(p + "intermediate/dense", H, F)
            dense(p + "output/dense", F, H)
            layer_norm(p + "output/LayerNorm", H)
    dense("discriminator_predictions/dense", disc["hidden_size"], disc["hidden_size"])
    dense("discriminator_predictions/dense_1", disc["hidden_size"], 1)
    dense("generator_predictions/dense", gen["hidden_size"], E)
    layer_norm("generator_predictions/LayerNorm", E)
    s["generator_predictions/output_bias"] = (V,)
    return s


def make_weights(shapes, rng):
    def q(x):  # 2**-8 grid: compresses well
        return (np.round(x * 256) / 256).astype(np.float32)

    out = {}
    for name, shape in shapes.items():
        if name.endswith("gamma"):
            out[name] = q(1.0 + 0.1 * rng.standard_normal(shape))
        elif name.endswith(("beta", "bias")):
            out[name] = q(0.1 * rng.standard_normal(shape))
        else:
            out[name] = q(0.2 * rng.standard_normal(shape))
    return out


def write_ckpt(values, directory, prefix, global_step=None):
    """Save `values` (name -> array) with a graph-mode tf.compat.v1 Saver, as TF1 code does."""
    import tensorflow as tf

    os.makedirs(directory, exist_ok=True)
    with tf.Graph().as_default():
        tv = {
            n: tf.compat.v1.get_variable(
                n, shape=a.shape, dtype=tf.as_dtype(a.dtype), initializer=tf.compat.v1.zeros_initializer()
            )
            for n, a in values.items()
        }
        saver = tf.compat.v1.train.Saver(var_list=tv, save_relative_paths=True)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for n, v in tv.items():  # load() keeps the values out of the .meta graph
                v.load(values[n], sess)
            saver.save(
                sess,
                os.path.join(directory, prefix),
                global_step=global_step,
                write_state=global_step is not None,
            )


def hf_model(cfg_path, ckpt, kind):
    """HF ElectraForPreTraining / ElectraForMaskedLM with weights from a TF1 ELECTRA checkpoint."""
    import torch
    from transformers import (
        ElectraConfig,
        ElectraForMaskedLM,
        ElectraForPreTraining,
        load_tf_weights_in_electra,
    )

    cfg = ElectraConfig.from_json_file(cfg_path)
    cfg.layer_norm_eps = 1e-12
    model = (ElectraForPreTraining if kind == "discriminator" else ElectraForMaskedLM)(cfg)
    with torch.no_grad():  # NaN-fill so any parameter the loader misses is detected
        for p in model.parameters():
            p.fill_(float("nan"))
    with contextlib.redirect_stdout(io.StringIO()):
        load_tf_weights_in_electra(model, cfg, ckpt, discriminator_or_generator=kind)
    missing = [n for n, p in model.named_parameters() if torch.isnan(p).any()]
    assert not missing, f"{kind}: not loaded from {ckpt}: {missing}"
    return model.eval()


def check_loaded(disc, gen, ckpt):
    """Spot-check the name mapping against tf.train.load_variable (tied embeddings included)."""
    import tensorflow as tf

    def lv(name):
        return tf.train.load_variable(ckpt, name)

    assert gen.generator_lm_head.weight is gen.electra.embeddings.word_embeddings.weight
    pairs = [
        (disc.electra.embeddings.word_embeddings.weight, lv("electra/embeddings/word_embeddings")),
        (gen.electra.embeddings.word_embeddings.weight, lv("electra/embeddings/word_embeddings")),
        (gen.generator_lm_head.weight, lv("electra/embeddings/word_embeddings")),
        (gen.generator_lm_head.bias, lv("generator_predictions/output_bias")),
        (gen.electra.embeddings.position_embeddings.weight, lv("electra/embeddings/position_embeddings")),
        (gen.electra.embeddings.LayerNorm.weight, lv("electra/embeddings/LayerNorm/gamma")),
        (disc.electra.embeddings_project.weight, lv("electra/embeddings_project/kernel").T),
        (gen.electra.embeddings_project.weight, lv("generator/embeddings_project/kernel").T),
        (
            gen.electra.encoder.layer[1].output.dense.weight,
            lv("generator/encoder/layer_1/output/dense/kernel").T,
        ),
        (
            disc.electra.encoder.layer[1].attention.self.query.bias,
            lv("electra/encoder/layer_1/attention/self/query/bias"),
        ),
        (
            disc.discriminator_predictions.dense_prediction.weight,
            lv("discriminator_predictions/dense_1/kernel").T,
        ),
        (gen.generator_predictions.dense.weight, lv("generator_predictions/dense/kernel").T),
    ]
    for tensor, array in pairs:
        np.testing.assert_array_equal(tensor.detach().numpy(), array)


def run_hf(directory, prefix, input_ids, token_type_ids, attention_mask):
    import torch

    ckpt = os.path.join(directory, prefix)
    disc = hf_model(os.path.join(directory, "discriminator.json"), ckpt, "discriminator")
    gen = hf_model(os.path.join(directory, "generator.json"), ckpt, "generator")
    check_loaded(disc, gen, ckpt)
    feed = dict(
        input_ids=torch.tensor(input_ids, dtype=torch.long),
        token_type_ids=torch.tensor(token_type_ids, dtype=torch.long),
        attention_mask=torch.tensor(attention_mask, dtype=torch.long),
        output_hidden_states=True,
    )
    with torch.no_grad():
        d, g = disc(**feed), gen(**feed)
    return dict(
        disc_hidden_states=d.hidden_states[-1].numpy(),
        rtd_logits=d.logits.numpy(),
        gen_hidden_states=g.hidden_states[-1].numpy(),
        gen_logits=g.logits.numpy(),
        disc_embedding_output=d.hidden_states[0].numpy(),
    )


def cross_check(shared_dir):
    """Max |HF - original ELECTRA code| on the shared fixture, over input_mask == 1."""
    r = np.load(os.path.join(shared_dir, "reference.npz"))
    out = run_hf(shared_dir, "electra_model", r["input_ids"], r["segment_ids"], r["input_mask"])
    keep = r["input_mask"].astype(bool)
    names = {
        "rtd_logits": "rtd_logits",
        "disc_hidden_states": "disc_sequence_output",
        "disc_embedding_output": "disc_embedding_output",
        "gen_hidden_states": "gen_sequence_output",
        "gen_logits": "gen_logits",
    }
    for ours, theirs in names.items():
        diff = np.abs(out[ours] - r[theirs])[keep].max()
        print(f"cross-check vs {shared_dir}: {theirs:22s} max abs diff {diff:.3g}")
        assert diff < 1e-4, theirs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "tf_tiny"))
    ap.add_argument("--shared", default=SHARED, help="original-code fixture used for the cross-check")
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("--keep-meta", action="store_true", help="keep the .meta graph files")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    weights = make_weights(weight_shapes(DISC, GEN), rng)
    slots = {}
    for name, a in weights.items():  # non-zero, coarse-grid Adam moments (v >= 0)
        slots[name + "/adam_m"] = (rng.integers(-8, 8, a.shape) / 4096.0).astype(np.float32)
        slots[name + "/adam_v"] = (rng.integers(0, 16, a.shape) / 2.0**20).astype(np.float32)
    flavours = {
        "training": ("model.ckpt", dict(weights, **slots, global_step=np.int64(3)), 3),
        "release": ("electra_model", weights, None),
    }
    for flavour, (prefix, values, step) in flavours.items():
        d = os.path.join(args.out, flavour)
        shutil.rmtree(d, ignore_errors=True)
        write_ckpt(values, d, prefix, global_step=step)
        for fname, cfg in (("discriminator.json", DISC), ("generator.json", GEN)):
            with open(os.path.join(d, fname), "w") as f:
                json.dump(cfg, f, indent=2)
                f.write("\n")
        shutil.copyfile(os.path.join(args.shared, "vocab.txt"), os.path.join(d, "vocab.txt"))
        if not args.keep_meta:
            for f in os.listdir(d):
                if f.endswith(".meta"):
                    os.remove(os.path.join(d, f))

    # fixed inputs: 3 rows x 12, valid lengths 12/9/5, second segment in rows 0 and 1
    lengths, L = [12, 9, 5], 12
    attention_mask = (np.arange(L)[None, :] < np.array(lengths)[:, None]).astype(np.int64)
    input_ids = rng.integers(5, DISC["vocab_size"], (3, L)).astype(np.int64) * attention_mask
    token_type_ids = np.zeros((3, L), np.int64)
    token_type_ids[0, 7:12] = 1
    token_type_ids[1, 4:9] = 1
    ref = {}
    for flavour, prefix in (("training", "model.ckpt-3"), ("release", "electra_model")):
        out = run_hf(os.path.join(args.out, flavour), prefix, input_ids, token_type_ids, attention_mask)
        if ref:
            for k in ref:
                np.testing.assert_array_equal(ref[k], out[k])  # both flavours hold the same weights
        ref = out
    ref.pop("disc_embedding_output")
    ref = {k: v.astype(np.float32) for k, v in ref.items()}
    np.savez_compressed(
        os.path.join(args.out, "reference.npz"),
        input_ids=input_ids,
        token_type_ids=token_type_ids,
        attention_mask=attention_mask,
        **ref,
    )
    for k, v in ref.items():
        print(f"{k:20s} {str(v.shape):14s} min {v.min():+.4f} max {v.max():+.4f} std {v.std():.4f}")
    cross_check(args.shared)


if __name__ == "__main__":
    main()
