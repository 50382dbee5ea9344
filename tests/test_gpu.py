"""Every path on a CUDA GPU (`pytest -m gpu`; `bash benchmarks/gpu_check.sh` runs them with the GPU
lock). Deselected by default, and skipped where no GPU is visible (Paddle without CUDA, or no device).

- converted generator and discriminator on the GPU = on the CPU (fp32, 1e-4), and = the original code
- `finetune` and `pretrain` on the GPU; the fused CPU kernels never see a GPU tensor
- mixed precision: `pretrain --fp16` (O1, O2) and `--bf16` close to fp32 and learning; loss scale saved
- `Predictor` on the GPU through Paddle Inference: fp32 within 1e-4 of the CPU, fp16's parity printed
- hub modules' `predict` / `get_embedding` with `use_gpu=True` = `use_gpu=False`
"""

import contextlib
import json
import os

import numpy as np
import paddle
import pytest
from conftest import TF_TINY, to_tensors

from paddle_electra import ElectraDiscriminator, ElectraGenerator, ElectraModel
from paddle_electra.cli import main
from paddle_electra.runtime.predictor import Predictor
from paddle_electra.training import fused_cpu
from paddle_electra.utils.cpuinfo import gpu_visible
from paddle_electra_convert import convert_tf_checkpoint

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not gpu_visible(),
        reason="no CUDA GPU visible (needs paddlepaddle-gpu and a device): "
        "run `bash benchmarks/gpu_check.sh` on a GPU machine",
    ),
]
REF = np.load(os.path.join(TF_TINY, "reference.npz"))
FEED = (REF["input_ids"], REF["token_type_ids"], REF["attention_mask"])
REAL = REF["attention_mask"].astype(bool)


@pytest.fixture(autouse=True)
def restore_device():
    saved = paddle.get_device()
    yield
    paddle.set_device(saved)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("tiny") / "converted")
    convert_tf_checkpoint(os.path.join(TF_TINY, "release"), out, progress=False)
    return out


def _outputs(cls, directory, device):
    paddle.set_device(device)
    model = cls.from_pretrained(directory)
    model.eval()
    with paddle.no_grad():
        out = model(*to_tensors(*FEED))
    assert all(p.place.is_gpu_place() == device.startswith("gpu") for p in model.parameters())
    return (out[0] if isinstance(out, (tuple, list)) else out).numpy()


@pytest.mark.parametrize(
    "cls,tower", [(ElectraDiscriminator, "discriminator"), (ElectraGenerator, "generator")]
)
def test_converted_towers_on_gpu_equal_cpu(cls, tower, tiny):
    cpu, gpu = (
        _outputs(cls, os.path.join(tiny, tower), "cpu"),
        _outputs(cls, os.path.join(tiny, tower), "gpu:0"),
    )
    print(f"{tower}: max |gpu - cpu| = {np.abs(gpu - cpu)[REAL].max():.2e}")
    np.testing.assert_allclose(gpu[REAL], cpu[REAL], atol=1e-4)
    reference = REF["rtd_logits" if tower == "discriminator" else "gen_logits"]
    np.testing.assert_allclose(gpu[REAL], reference[REAL], atol=1e-4)  # and the original TF code's logits


def test_real_encoder_on_gpu_equals_cpu(ltp_converted):
    cpu, gpu = _outputs(ElectraModel, ltp_converted, "cpu"), _outputs(ElectraModel, ltp_converted, "gpu:0")
    np.testing.assert_allclose(gpu[REAL], cpu[REAL], atol=1e-4)


@contextlib.contextmanager
def fused_kernel_inputs():
    """Every tensor handed to the fused CPU kernels (they take their pointers through `_ptr`)."""
    seen = []
    ptr = fused_cpu._ptr
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fused_cpu, "_ptr", lambda t: (seen.append(t.place), ptr(t))[1])
        yield seen


def _sentiment_data(chnsenticorp_dir, tmp_path, train_rows=65, dev_rows=33):
    data = tmp_path / "data"
    data.mkdir()
    for split, rows in (("train", train_rows), ("dev", dev_rows)):
        with open(os.path.join(chnsenticorp_dir, f"{split}.tsv"), encoding="utf-8") as f:
            (data / f"{split}.tsv").write_text("".join(f.readlines()[:rows]), encoding="utf-8")
    return data


def test_finetune_on_gpu_never_reaches_the_fused_cpu_kernels(
    ltp_converted, chnsenticorp_dir, tmp_path, capsys
):
    paddle.set_device("gpu:0")
    data = _sentiment_data(chnsenticorp_dir, tmp_path)
    with fused_kernel_inputs() as seen:
        assert (
            main(
                [
                    "finetune",
                    "--task",
                    "chnsenticorp",
                    "--model",
                    ltp_converted,
                    "--data-dir",
                    str(data),
                    "--output",
                    str(tmp_path / "model"),
                    "--max-steps",
                    "8",
                    "--batch-size",
                    "8",
                    "--max-seq-length",
                    "64",
                ]
            )
            == 0
        )
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0 <= metrics["accuracy"] <= 1 and seen == []


def _pretrain(out, init, corpus, *flags, steps=20):
    assert (
        main(
            [
                "pretrain",
                "--corpus",
                corpus,
                "--output",
                str(out),
                "--init",
                init,
                "--steps",
                str(steps),
                "--batch-size",
                "16",
                "--max-seq-length",
                "64",
                "--log-every",
                "1",
                "--learning-rate",
                "1e-3",
                "--warmup-steps",
                "2",
                *flags,
            ]
        )
        == 0
    )
    with open(os.path.join(out, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def fp32_run(ltp_converted, corpus, tmp_path_factory):
    """(log, the tensors the fused CPU kernels were handed) of 20 fp32 pretraining steps on the GPU."""
    paddle.set_device("gpu:0")
    with fused_kernel_inputs() as seen:
        log = _pretrain(tmp_path_factory.mktemp("fp32") / "pt", ltp_converted, corpus)
    paddle.set_device("cpu")
    return log, seen


def test_pretrain_on_gpu_learns_without_the_fused_cpu_kernels(fp32_run):
    log, seen = fp32_run
    losses = [entry["loss"] for entry in log]
    print(f"fp32 pretraining on GPU, losses: {losses[0]:.3f} -> {losses[-1]:.3f}")
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3]), losses
    assert seen == []


@pytest.mark.parametrize("flags", [("--fp16",), ("--fp16", "--amp-level", "O2"), ("--bf16",)])
def test_mixed_precision_pretraining_tracks_fp32(flags, fp32_run, ltp_converted, corpus, tmp_path):
    """Same initialisation, data and noise as the fp32 run: the first loss within 1% of fp32's, the
    run learns as fp32 does, weights saved in fp32, and fp16's loss scale kept with the checkpoint."""
    paddle.set_device("gpu:0")
    log = _pretrain(tmp_path / "pt", ltp_converted, corpus, *flags)
    losses, reference = [entry["loss"] for entry in log], [entry["loss"] for entry in fp32_run[0]]
    print(
        f"{' '.join(flags)}: first loss {losses[0]:.4f} (fp32 {reference[0]:.4f}), "
        f"last {losses[-1]:.4f} (fp32 {reference[-1]:.4f})"
    )
    assert losses[0] == pytest.approx(reference[0], rel=1e-2)
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3]) and np.mean(losses[-3:]) < 1.1 * np.mean(
        reference[-3:]
    )
    saved = ElectraDiscriminator.from_pretrained(str(tmp_path / "pt" / "discriminator"))
    assert all(p.dtype == paddle.float32 for p in saved.parameters())
    if "--fp16" in flags:
        state = json.loads((tmp_path / "pt" / "checkpoint-20" / "state.json").read_text())["loss_scaler"]
        assert 1 <= state["scale"][0] <= 2.0**15 and state["use_dynamic_loss_scaling"]


def test_predictor_on_gpu_through_paddle_inference(ltp_converted, tiny):
    feed = dict(zip(("input_ids", "token_type_ids", "attention_mask"), FEED))
    for directory in (ltp_converted, os.path.join(tiny, "discriminator")):
        cpu = Predictor(directory, backend="dygraph", device="cpu")(**feed)[0]
        gpu = Predictor(directory, backend="paddle-inference", device="gpu")
        assert gpu.use_gpu and gpu.backend_for(len(FEED[0]), FEED[0].shape[1]) == "paddle-inference"
        np.testing.assert_allclose(gpu(**feed)[0][REAL], cpu[REAL], atol=1e-4)
        half = Predictor(directory, precision="fp16", device="gpu")(**feed)[0]
        error = float(np.abs(half - cpu)[REAL].max())
        print(f"{os.path.basename(directory)}: Paddle Inference fp16 on GPU, max |fp16 - fp32| = {error:.2e}")
        assert 0 < error < 0.1  # really half precision, yet close


def test_hub_module_with_use_gpu_equals_cpu(converted_shared, tmp_path):
    """As the official modules take it: `use_gpu=True` runs Paddle Inference on the GPU."""
    import paddlehub as hub

    copy = tmp_path / "gpu_electra"
    assert (
        main(
            [
                "hub",
                "pack",
                "--weights",
                os.path.join(converted_shared, "discriminator"),
                "--name",
                "gpu-electra",
                "--out",
                str(copy),
            ]
        )
        == 0
    )
    texts = [["今天天气很好，我们去公园吧"], ["房间很干净"], ["有一个大的国家和十三个人在这里工作"]]
    module = hub.Module(directory=str(copy))
    for (v_cpu, t_cpu), (v_gpu, t_gpu) in zip(
        module.get_embedding(texts, use_gpu=False), module.get_embedding(texts, use_gpu=True)
    ):
        np.testing.assert_allclose(v_gpu, v_cpu, atol=1e-4)
        np.testing.assert_allclose(t_gpu, t_cpu, atol=1e-4)
    classifier = hub.Module(directory=str(copy), task="seq-cls", label_map={0: "negative", 1: "positive"})
    labels_cpu, probs_cpu = classifier.predict(texts, use_gpu=False, return_prob=True)
    labels_gpu, probs_gpu = classifier.predict(texts, use_gpu=True, return_prob=True)
    assert labels_gpu == labels_cpu
    np.testing.assert_allclose(np.array(probs_gpu, dtype=float), np.array(probs_cpu, dtype=float), atol=1e-4)
