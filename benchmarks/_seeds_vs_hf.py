"""Shared by finetune_c3.py, finetune_chinese_sts.py and finetune_multilabel.py: ours through the
command line with `--seeds` (one `paddle-electra finetune` for every seed, in a worker process whose
paddlenlp Trainer.train is wrapped to read each run's training time), then the HF transformers peer
(_hf_tasks.py, in $PADDLE_ELECTRA_REF_PYTHON) once per seed with the same recipe; a markdown table
per seed with "mean ± sd" and "max (mean)", and one JSON line.

Each side starts with its framework's default threading (OMP_NUM_THREADS unset: ours' fast CPU path
uses every core, torch its default), after waiting (at most a minute) for the machine to be quiet;
each run reports the cores it used and those other processes used meanwhile.

Worker mode (internal): `python _seeds_vs_hf.py finetune ARGS...` runs `paddle-electra finetune ARGS`
and prints one JSON line: OUTPUT/trials.json's summary and each run's training measurements.
"""

import contextlib
import io
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import CLEAN_ENV, MAIN_PY, describe_cpu, fresh_dir, markdown_table, ref_python, wait_for_quiet  # noqa: E402
from finetune_chnsenticorp import capture_train, run_json  # noqa: E402

RECIPE_OPTIONS = ("epochs", "max_steps", "learning_rate", "batch_size", "max_seq_length")


def add_recipe_options(parser, **defaults):
    """The recipe both sides take (defaults per data set)."""
    parser.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default 1,2,3)")
    parser.add_argument("--epochs", type=float, default=defaults.get("epochs", 1.0))
    parser.add_argument(
        "--max-steps",
        type=int,
        default=defaults.get("max_steps", -1),
        help="stop after N steps (-1: every epoch)",
    )
    parser.add_argument("--learning-rate", type=float, default=defaults.get("learning_rate", 3e-4))
    parser.add_argument("--batch-size", type=int, default=defaults.get("batch_size", 32))
    parser.add_argument("--max-seq-length", type=int, default=defaults.get("max_seq_length", 128))
    parser.add_argument(
        "--model", help="converted LTP-tiny (default ~/.cache/paddle-electra/ltp_tiny_paddle)"
    )
    parser.add_argument(
        "--hf-model", help="LTP-tiny HF dir (default paddle_electra_convert.assets.ltp_tiny_dir())"
    )


def recipe_argv(args):
    return [
        f"--{name.replace('_', '-')}={getattr(args, name)}"
        for name in RECIPE_OPTIONS
        if not (name == "max_steps" and args.max_steps <= 0)
    ]


def worker(argv):
    """`paddle-electra finetune ARGV` in this process; prints the trials' summary and each run's
    Trainer measurements as one JSON line."""
    from paddlenlp.trainer import Trainer

    from paddle_electra.cli import main as cli

    captured, runs = {}, []
    capture_train(captured)
    inner = Trainer.train

    def train(self, *a, **k):
        out = inner(self, *a, **k)
        runs.append(dict(captured))
        return out

    Trainer.train = train
    start = time.perf_counter()
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        code = cli(["finetune", *argv])
    if code:
        raise SystemExit(f"paddle-electra finetune {' '.join(argv)} failed ({code})")
    sys.stderr.write(log.getvalue())  # the trials table, kept in the log
    output = argv[argv.index("--output") + 1]
    with open(os.path.join(output, "trials.json"), encoding="utf-8") as f:
        summary = json.load(f)
    print(json.dumps({"trials": summary, "train": runs, "wall_s": round(time.perf_counter() - start, 1)}))


def run_ours(finetune_argv, seeds, output, log_dir):
    """Every seed through `paddle-electra finetune ... --seeds`; per seed: dev (and test) metrics and
    its training measurements; and the wall time of the whole command."""
    env = dict(CLEAN_ENV)
    env.pop("OMP_NUM_THREADS", None)
    argv = [*finetune_argv, "--output", fresh_dir(output), "--seeds", ",".join(map(str, seeds))]
    wait_for_quiet(limit=0.3, max_wait_s=60)
    print(
        f"[{time.strftime('%H:%M:%S')}] ours: paddle-electra finetune {' '.join(argv)}",
        file=sys.stderr,
        flush=True,
    )
    result = run_json(
        [MAIN_PY, os.path.abspath(__file__), "finetune", *argv], env, os.path.join(log_dir, "ours.log")
    )
    per_seed = []
    for run, train in zip(result["trials"]["runs"], result["train"]):
        per_seed.append(
            {
                "seed": run["seed"],
                **run["dev"],
                **{f"test_{k}": v for k, v in (run.get("test") or {}).items() if isinstance(v, (int, float))},
                "steps": train["steps"],
                "train_runtime": train["train_runtime"],
                "train_examples_per_s": train["train_samples_per_second"],
                "process_cores": train["process_cores"],
                "foreign_cores": train["foreign_cores"],
                "loss_every_50_steps": train["loss_every_50_steps"],
            }
        )
    command = "paddle-electra finetune " + " ".join(argv)
    return {"command": command, "runs": per_seed, "wall_s": result["process_wall"]}


def run_hf(peer_argv, seeds, log_dir):
    """The peer once per seed; its JSON results and their summed wall time."""
    env = dict(CLEAN_ENV)
    env.pop("OMP_NUM_THREADS", None)
    runs, wall = [], 0.0
    for seed in seeds:
        cmd = [ref_python(), os.path.join(HERE, "_hf_tasks.py"), *peer_argv, "--seed", str(seed)]
        wait_for_quiet(limit=0.3, max_wait_s=60)
        print(
            f"[{time.strftime('%H:%M:%S')}] HF seed {seed}: {' '.join(cmd[1:])}", file=sys.stderr, flush=True
        )
        result = run_json(cmd, env, os.path.join(log_dir, f"hf-seed{seed}.log"))
        wall += result["process_wall"]
        runs.append(result)
    return {"runs": runs, "wall_s": round(wall, 1)}


def compare(kind, args, work, train, dev, test=None, ours_options=()):
    """Ours (`paddle-electra finetune --task KIND --classifier-head two_layer OURS_OPTIONS --seeds`)
    then the peer, with the recipe of `args` (add_recipe_options) on the same files; then `parity` of
    the first seed's model on the dev file. (ours, hf, parity) results."""
    from finetune_chnsenticorp import hf_model_dir, paddle_model_dir

    seeds, recipe, hf_dir = (
        [int(s) for s in args.seeds.split(",")],
        recipe_argv(args),
        args.hf_model or hf_model_dir(),
    )
    files = {"train": train, "dev": dev, "test": test}
    ours_argv = [f"--task={kind}", f"--model={args.model or paddle_model_dir()}"]
    ours_argv += [f"--{split}-file={path}" for split, path in files.items() if path]
    ours_argv += ["--classifier-head=two_layer", *ours_options, *recipe]
    peer_argv = [f"--task={kind}", f"--model-dir={hf_dir}"]
    peer_argv += [f"--{split}={path}" for split, path in files.items() if path] + recipe
    os.makedirs(work, exist_ok=True)
    ours = run_ours(ours_argv, seeds, os.path.join(work, "ours"), os.path.join(work, "logs"))
    hf = run_hf(peer_argv, seeds, os.path.join(work, "logs"))
    print(f"{kind}: ours {ours['wall_s']} s, HF {hf['wall_s']} s", file=sys.stderr, flush=True)
    return ours, hf, parity(kind, os.path.join(work, "ours", f"seed-{seeds[0]}"), dev, hf_dir, work)


MC_HEAD = [  # ours, HF ElectraForMultipleChoice, is a Linear weight
    ("dense.weight", "sequence_summary.summary.weight", True),
    ("dense.bias", "sequence_summary.summary.bias", False),
    ("classifier.weight", "classifier.weight", True),
    ("classifier.bias", "classifier.bias", False),
]


def parity(kind, model_dir, data_file, hf_model_dir, work, count=16):
    """Ours' fine-tuned model on the first `count` examples of `data_file` as one training batch,
    dropout off: its loss, logits and every weight's gradient, saved with the weights under HF's names
    for `_hf_tasks.py --parity`, which recomputes them with transformers' class; its JSON (largest
    differences)."""
    import numpy as np

    from paddle_electra.training.finetune import load_finetuned
    from paddle_electra.training.trainer import collate
    from paddle_electra_convert.names import tower_params

    spec, net, tokenizer = load_finetuned(model_dir)
    examples = spec.read(data_file)[:count]
    rows, _ = spec.encode(examples, tokenizer, spec.options.get("max_seq_length", 128), training=True)
    batch = collate(rows)
    net.eval()
    loss, logits = net(**batch)
    loss.backward()
    if kind == "multiple-choice":
        names = [
            (f"electra.{p.ours}", f"electra.{p.hf}", p.hf_transposed)
            for p in tower_params(net.config, "encoder")
        ]
        names += MC_HEAD
    else:
        names = [
            (p.ours, f"electra.{p.hf}" if p.in_encoder else p.hf, p.hf_transposed)
            for p in tower_params(net.config, "seq-cls")
        ]
    params = dict(net.named_parameters())
    arrays = {k: v.numpy() for k, v in batch.items()}
    arrays.update(loss=loss.numpy(), logits=logits.numpy())
    for ours, hf, transposed in names:
        weight, grad = params[ours].numpy(), params[ours].grad.numpy()
        arrays["w:" + hf], arrays["g:" + hf] = (a.T if transposed else a for a in (weight, grad))
    path = os.path.join(work, "parity.npz")
    np.savez(path, **arrays)
    env = dict(CLEAN_ENV)
    cmd = [ref_python(), os.path.join(HERE, "_hf_tasks.py"), f"--task={kind}", f"--model-dir={hf_model_dir}"]
    return run_json([*cmd, f"--parity={path}"], env, os.path.join(work, "logs", "parity.log"))


def _stat(values, scale):
    mean = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{scale * mean:.2f} ± {scale * sd:.2f}", f"{scale * max(values):.2f} ({scale * mean:.2f})"


def report(title, metrics, ours, hf, summary, check=None):
    """Print the table (per seed, mean ± sd, max (mean)) of `metrics` = [(key, label, scale)], the
    parity `check` (parity()'s result) and the JSON line of `summary` with both sides' results."""
    rows = []
    for p, h in zip(ours["runs"], hf["runs"]):
        row = [p["seed"]]
        for key, _, scale in metrics:
            row += [f"{scale * p[key]:.2f}", f"{scale * h[key]:.2f}"]
        row += [
            f"{p['train_examples_per_s']:.1f} / {h['train_examples_per_s']:.1f}",
            f"{p['foreign_cores']} / {h['foreign_cores']}",
        ]
        rows.append(row)
    stats = {}
    for key, _, scale in metrics:
        for side, result in (("ours", ours), ("hf", hf)):
            stats[side, key] = _stat([r[key] for r in result["runs"]], scale)
    for label, k in (("mean ± sd", 0), ("max (mean)", 1)):
        row = [label]
        for key, _, _ in metrics:
            row += [f"**{stats['ours', key][k]}**", f"**{stats['hf', key][k]}**"]
        rows.append(row + ["", ""])
    headers = ["seed"]
    for _, label, _ in metrics:
        headers += [f"ours {label}", f"HF {label}"]
    headers += ["train ex/s ours / HF", "other processes' cores ours / HF"]
    print(f"\n{title}\n")
    print(markdown_table(headers, rows))
    print(
        f"\nwall time: ours {ours['wall_s']:.0f} s (one command, {len(ours['runs'])} seeds), "
        f"HF {hf['wall_s']:.0f} s ({len(hf['runs'])} processes); CPU: {describe_cpu()}"
    )
    if check:
        print(
            f"same weights and batch ({check['examples']} examples, dropout off), ours / HF: loss "
            f"{check['loss_ours']:.6f} / {check['loss_hf']:.6f}, logits differ by at most "
            f"{check['logits_max_abs_diff']:.1e}, the {check['gradients']} weight gradients by at most "
            f"{check['gradient_max_abs_diff']:.1e} (largest gradient entry {check['gradient_max_abs']:.1e})"
        )
    print(
        json.dumps(
            {**summary, "cpu": describe_cpu(), "ours": ours, "hf": hf, "parity": check}, ensure_ascii=False
        )
    )


if __name__ == "__main__":
    if sys.argv[1:2] != ["finetune"]:
        sys.exit(__doc__)
    worker(sys.argv[2:])
