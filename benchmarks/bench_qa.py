"""Reading-comprehension inference time: `paddle_electra.training.finetune.evaluate` over a CMRC 2018 file
against HF transformers' question-answering pipeline on the same encoder, in the same run.

Model: LTP-tiny (the real 3-layer Chinese ELECTRA) with a QA head (weights from seed 0; speed does
not depend on training). Ours: ELECTRA's original head (end logits over a beam of 20 starts) by
default, or `--head linear`; HF: `ElectraForQuestionAnswering` (its linear head) on the same
encoder weights, `pipeline("question-answering", batch_size=32)`. Both with max_seq_length 384,
doc_stride 128, max_query_length 64, max_answer_length 30, batch 32, in fresh processes (wall time
of the whole prediction: featurization, the model, answer extraction; model loading and imports
timed apart). Data: the CMRC 2018 trial set (`--trial`), its non-empty questions repeated (new ids) up to
`--questions` (default 3,219, the size of the CMRC 2018 dev set).

Sides (`--sides`): ours (backend "auto"), ours-ort / ours-pi (onnxruntime / Paddle Inference
forced), ours-before (the same with `--before PYTHONPATH`, an earlier paddle-electra), hf.

    $PYTHON benchmarks/bench_qa.py --trial CMRC_TRIAL_JSON [--questions 3219] [--before PYTHONPATH]
Prints a markdown table (CPU named) and one JSON line.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import (  # noqa: E402
    MAIN_PY,
    describe_cpu,
    markdown_table,
    need_data,
    ref_python,
    run_worker,
    with_foreign_cores,
)

SETTINGS = dict(max_seq_length=384, doc_stride=128, max_query_length=64, max_answer_length=30, batch_size=32)


def make_file(trial, questions, out):
    """The trial set's articles repeated (question ids made unique) until `questions` questions.
    Empty questions (the trial set has one) are left out: HF's pipeline refuses them."""
    with open(trial, encoding="utf-8") as f:
        articles = json.load(f)["data"]
    data, n, copy = [], 0, 0
    while n < questions:
        for article in articles:
            paragraphs = []
            for p in article["paragraphs"]:
                qas = [dict(qa, id=f"{qa['id']}-{copy}") for qa in p["qas"] if qa["question"].strip()][
                    : questions - n
                ]
                n += len(qas)
                if qas:
                    paragraphs.append(dict(p, qas=qas))
            if paragraphs:
                data.append(dict(article, paragraphs=paragraphs))
            if n >= questions:
                break
        copy += 1
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"version": "v1.0", "data": data}, f, ensure_ascii=False)
    return n


def ours_worker(args):
    start = time.perf_counter()
    import paddle

    from paddle_electra.training.finetune import evaluate, load_for_task

    imported = time.perf_counter()
    model_dir = os.path.join(args.work, f"model-{args.head}")
    if not os.path.isfile(os.path.join(model_dir, "config.json")):
        paddle.seed(0)
        net, tokenizer = load_for_task("cmrc2018", args.model, qa_head=args.head)
        net.save_pretrained(model_dir, safe_serialization=True)
        tokenizer.save_pretrained(model_dir)
    runtime = {"backend": args.backend} if args.backend else None
    qa = {k: SETTINGS[k] for k in ("doc_stride", "max_query_length", "max_answer_length")}
    t0 = time.perf_counter()
    metrics = evaluate(
        "cmrc2018",
        model_dir,
        args.data,
        batch_size=SETTINGS["batch_size"],
        max_seq_length=SETTINGS["max_seq_length"],
        qa_options=qa,
        runtime=runtime,
    )
    print(
        json.dumps({"predict_s": time.perf_counter() - t0, "imports_s": imported - start, "metrics": metrics})
    )


def hf_worker(args):
    start = time.perf_counter()
    import torch
    from transformers import BertTokenizerFast, ElectraConfig, ElectraForQuestionAnswering, pipeline

    imported = time.perf_counter()
    torch.manual_seed(0)
    with open(os.path.join(args.hf_model, "config.json"), encoding="utf-8") as f:
        raw = json.load(
            f
        )  # LTP-tiny's config is nested, its weights under "backbone." (as in _hf_finetune.py)
    model = ElectraForQuestionAnswering(
        ElectraConfig(**raw.get("model", {}).get("backbone", {}).get("config", raw))
    ).eval()
    state = torch.load(
        os.path.join(args.hf_model, "pytorch_model.bin"), map_location="cpu", weights_only=True
    )
    state = {
        k[len("backbone.") :]: v
        for k, v in state.items()
        if k.startswith("backbone.") and not k.endswith("position_ids")
    }
    missing, unexpected = model.electra.load_state_dict(state, strict=False)
    assert not unexpected and not [
        k for k in missing if not k.endswith(("position_ids", "token_type_ids"))
    ], (missing, unexpected)
    tokenizer = BertTokenizerFast(os.path.join(args.hf_model, "vocab.txt"), do_lower_case=True)
    qa = pipeline("question-answering", model=model, tokenizer=tokenizer, device=-1)
    with open(args.data, encoding="utf-8") as f:
        items = [
            (q["question"], p["context"])
            for a in json.load(f)["data"]
            for p in a["paragraphs"]
            for q in p["qas"]
        ]
    t0 = time.perf_counter()
    with torch.inference_mode():
        answers = qa(
            question=[q for q, _ in items],
            context=[c for _, c in items],
            batch_size=SETTINGS["batch_size"],
            max_seq_len=SETTINGS["max_seq_length"],
            doc_stride=SETTINGS["doc_stride"],
            max_question_len=SETTINGS["max_query_length"],
            max_answer_len=SETTINGS["max_answer_length"],
        )
    print(
        json.dumps(
            {
                "predict_s": time.perf_counter() - t0,
                "imports_s": imported - start,
                "answers": len(answers),
                "threads": torch.get_num_threads(),
            }
        )
    )


SIDES = {  # name: (label, backend or None for auto)
    "ours": ("ours: evaluate, backend auto (default)", None),
    "ours-ort": ("ours: evaluate, onnxruntime", "onnxruntime"),
    "ours-pi": ("ours: evaluate, Paddle Inference", "paddle-inference"),
    "ours-before": ("ours before (--before): evaluate, backend auto", None),
    "hf": ("HF transformers: pipeline('question-answering'), PyTorch eager", None),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trial", help="the CMRC 2018 trial set (SQuAD-format json)")
    ap.add_argument("--questions", type=int, default=3219, help="questions in the timed file (default 3219)")
    ap.add_argument(
        "--sides", default="ours,hf", help=f"comma-separated, from {', '.join(SIDES)} (default ours,hf)"
    )
    ap.add_argument(
        "--head", choices=["original", "linear"], default="original", help="our QA head (default original)"
    )
    ap.add_argument(
        "--before",
        metavar="PYTHONPATH",
        help="for ours-before: a PYTHONPATH holding an earlier paddle-electra",
    )
    ap.add_argument("--reps", type=int, default=1, help="repetitions of every side, interleaved (default 1)")
    ap.add_argument("--work", default="/tmp/paddle-electra-results/bench_qa")
    ap.add_argument("--model", help="converted LTP-tiny (default: converted into the cache)")
    ap.add_argument("--hf-model", help="LTP-tiny HF directory (default: fetched into the cache)")
    ap.add_argument("--worker", choices=["ours", "hf"], help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--backend", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return ours_worker(args) if args.worker == "ours" else hf_worker(args)

    from finetune_chnsenticorp import hf_model_dir, paddle_model_dir

    sides = [s for s in args.sides.split(",") if s]
    unknown = [s for s in sides if s not in SIDES]
    if unknown:
        ap.error(f"unknown side {unknown[0]}: choose from {', '.join(SIDES)}")
    if "ours-before" in sides and not args.before:
        ap.error("ours-before needs --before PYTHONPATH")
    os.makedirs(args.work, exist_ok=True)
    data = os.path.join(args.work, f"cmrc-{args.questions}.json")
    n = make_file(need_data(args.trial, "--trial", "the CMRC 2018 trial set"), args.questions, data)
    model = args.model or paddle_model_dir()
    hf_model = args.hf_model or hf_model_dir()
    me = os.path.abspath(__file__)
    small = os.path.join(args.work, "cmrc-warmup.json")
    make_file(args.trial, 20, small)

    def command(side, data):
        if side == "hf":
            return [ref_python(), me, "--worker", "hf", "--data", data, "--hf-model", hf_model], None
        cmd = [
            MAIN_PY,
            me,
            "--worker",
            "ours",
            "--data",
            data,
            "--model",
            model,
            "--head",
            args.head,
            "--work",
            os.path.join(args.work, side),
        ]
        cmd += ["--backend", SIDES[side][1]] if SIDES[side][1] else []
        return cmd, {"PYTHONPATH": args.before} if side == "ours-before" else None

    for side in sides:  # untimed: our model directory and its cached export made once, outside the timing
        if side != "hf":
            run_worker(*command(side, small))
    results = {s: [] for s in sides}
    for rep in range(args.reps):
        for side in sides:
            cmd, env = command(side, data)
            result, foreign = with_foreign_cores(lambda: run_worker(cmd, env))
            result["foreign_cores"] = foreign
            results[side].append(result)
            print(
                f"rep {rep + 1} {side}: {result['predict_s']:.1f} s, other processes {foreign:.2f} cores",
                file=sys.stderr,
                flush=True,
            )

    def med(side):
        values = sorted(r["predict_s"] for r in results[side])
        return values[len(values) // 2]

    base = med("hf") if "hf" in results else None
    rows = [
        [
            SIDES[s][0],
            " / ".join(f"{r['predict_s']:.1f}" for r in results[s]),
            f"{n / med(s):.1f}",
            f"{med(s) / base:.2f}" if base else "",
            " / ".join(f"{r['foreign_cores']:.2f}" for r in results[s]),
        ]
        for s in sides
    ]
    print(
        f"\nCMRC-sized file: {n} questions (the trial set repeated); LTP-tiny, our head {args.head}; "
        f"max_seq_length 384, doc_stride 128, batch 32; CPU: {describe_cpu()}\n"
    )
    print(
        markdown_table(
            ["side", "predict s per run", "questions/s", "time / HF", "other processes' cores"], rows
        )
    )
    print(json.dumps({"questions": n, "head": args.head, "cpu": describe_cpu(), "results": results}))


if __name__ == "__main__":
    main()
