"""Continued pretraining with ELECTRA's replaced-token-detection objective (google-research/electra
`run_pretraining.py`), on CPU or GPU.

- `mask_tokens`: of every sequence's real tokens except [CLS]/[SEP], 15% (at least one) are selected;
  85% of those become [MASK] and 15% stay as they are; the generator must predict all selected ones.
- `ElectraPretrainingModel`: a generator of its own (smaller) size and the discriminator share the
  token, position and type embeddings (and their LayerNorm). The generator's samples (Gumbel-max,
  no gradient through the sample) replace the selected tokens; the discriminator labels every real
  token original / replaced (a sampled token equal to the original counts as original).
  loss = 1 x generator MLM loss + 50 x discriminator loss (mean over real tokens).
- `pretrain`: tokenises a plain-text corpus once into memory-mapped token ids (`corpus.py`), packs
  them into [CLS] ... [SEP] sequences, trains with AdamW (data-parallel under Paddle's launcher, one
  corpus shard per process), linear warm-up then linear decay, logs metrics (generator MLM accuracy,
  discriminator accuracy and AUC) to `log.jsonl`, saves resumable checkpoints, and writes
  `generator/` and `discriminator/` model directories usable by everything else (fine-tuning, hub pack).
"""

import contextlib
import glob
import json
import logging
import os
import shutil
from typing import NamedTuple

import numpy as np
import paddle
import paddle.nn as nn
import paddle.nn.functional as F
from tqdm import tqdm

from paddle_electra.models.configuration import ElectraConfig
from paddle_electra.models.modeling import ElectraDiscriminator, ElectraGenerator, labelled_cross_entropy
from paddle_electra.models.tokenizer import ElectraTokenizer
from paddle_electra.models.weights import load_paddle_state
from paddle_electra.sources.pretrained import resolve
from paddle_electra.sources.zoo import MODELS, get_model
from paddle_electra.training.corpus import PackedSequences, tokenize_corpus
from paddle_electra.training.fast_cpu import fast_training
from paddle_electra.training.options import PretrainOptions, pretrain_options
from paddle_electra.utils.cpuinfo import gpu_visible

logger = logging.getLogger(__name__)
GENERATOR_WEIGHT, DISCRIMINATOR_WEIGHT = 1.0, 50.0


def mask_tokens(input_ids, attention_mask, special_ids, mask_id, rng, mask_prob=0.15, mask_rate=0.85):
    """(masked input ids, MLM labels: the original id at selected positions, -100 elsewhere)."""
    input_ids = np.asarray(input_ids)
    candidates = (np.asarray(attention_mask) == 1) & ~np.isin(input_ids, list(special_ids))
    masked, labels = input_ids.copy(), np.full_like(input_ids, -100)
    for row in range(input_ids.shape[0]):
        positions = np.flatnonzero(candidates[row])
        if positions.size == 0:
            continue
        count = max(1, min(positions.size, int(round(attention_mask[row].sum() * mask_prob))))
        chosen = rng.choice(positions, size=count, replace=False)
        labels[row, chosen] = input_ids[row, chosen]
        masked[row, chosen[rng.random(count) < mask_rate]] = mask_id
    return masked, labels


def mlm_loss(logits, labels):
    """Mean cross entropy of the generator over the selected positions (labels != -100)."""
    return labelled_cross_entropy(logits, labels)


def discriminator_loss(logits, replaced, attention_mask):
    """Mean sigmoid cross entropy of the discriminator over the real tokens."""
    weights = attention_mask.astype(logits.dtype)
    losses = F.binary_cross_entropy_with_logits(logits, replaced.astype(logits.dtype), reduction="none")
    return (losses * weights).sum() / weights.sum()


class ElectraPretrainingModel(nn.Layer):
    """Generator + discriminator with shared embeddings, trained jointly (see the module docstring)."""

    def __init__(self, generator: ElectraGenerator, discriminator: ElectraDiscriminator):
        super().__init__()
        generator.electra.embeddings = discriminator.electra.embeddings  # one set of embeddings, two towers
        self.generator, self.discriminator = generator, discriminator

    def forward(self, input_ids, token_type_ids, attention_mask, labels):
        """input_ids: masked; labels: original ids at selected positions, -100 elsewhere."""
        selected = labels != -100
        positions = paddle.nonzero(selected)  # [N, 2]: the original's masked_lm_positions
        originals = paddle.where(selected, labels, input_ids)
        gen_labels = paddle.gather_nd(labels, positions)
        # logits in fp32 for the losses and the sampling, also under mixed precision
        gen_logits = self.generator(input_ids, token_type_ids, attention_mask, positions=positions).astype(
            "float32"
        )  # [N, vocab]
        gen_loss = mlm_loss(gen_logits, gen_labels)
        with paddle.no_grad():  # Gumbel-max sampling from the generator; no gradient through the sample
            uniform = paddle.uniform(gen_logits.shape, min=1e-9, max=1.0)
            sampled = paddle.argmax(gen_logits - paddle.log(-paddle.log(uniform)), axis=-1)
            fakes = paddle.scatter_nd_add(
                originals, positions, sampled - gen_labels
            )  # originals = labels there
            replaced = fakes != originals
        disc_logits = self.discriminator(fakes, token_type_ids, attention_mask).astype("float32")
        disc_loss = discriminator_loss(disc_logits, replaced, attention_mask)
        loss = GENERATOR_WEIGHT * gen_loss + DISCRIMINATOR_WEIGHT * disc_loss
        return loss, {
            "gen_loss": gen_loss,
            "disc_loss": disc_loss,
            "gen_logits": gen_logits,
            "gen_labels": gen_labels,
            "disc_logits": disc_logits,
            "replaced": replaced,
            "selected": selected,
        }


def build_model(init=None, model_size=None, vocab_file=None, generator_size=0.25):
    """(model, tokenizer) from a converted checkpoint (DIR with discriminator/ and generator/), from an
    encoder or discriminator directory (the generator is new, `generator_size` x its hidden size, as
    ELECTRA's default), or from scratch at a zoo size (`model_size`, e.g. "small"; needs `vocab_file`)."""
    if init and (
        os.path.isdir(os.path.join(init, "generator")) or (init in MODELS and not os.path.isdir(init))
    ):
        # DIR/generator + DIR/discriminator, or a zoo name: both pretrained towers (a name is fetched
        # on first use)
        towers = {
            t: init if init in MODELS else os.path.join(init, t) for t in ("generator", "discriminator")
        }
        return (
            ElectraPretrainingModel(
                ElectraGenerator.from_pretrained(towers["generator"]),
                ElectraDiscriminator.from_pretrained(towers["discriminator"]),
            ),
            ElectraTokenizer.from_pretrained(towers["discriminator"]),
        )
    if init:
        init = resolve(init)  # a Hub repo id: fetched and converted on first use
        # an encoder (e.g. LTP-tiny): the replaced-token-detection head starts from scratch (one INFO line)
        discriminator = ElectraDiscriminator.from_pretrained(init, new_head=True)
        config = discriminator.config
        hidden = max(
            64, int(config.hidden_size * generator_size)
        )  # ELECTRA: generator 1/4 of the discriminator
        generator_config = ElectraConfig(
            **{
                **config.to_dict(),
                "hidden_size": hidden,
                "intermediate_size": 4 * hidden,
                "num_attention_heads": max(1, hidden // 64),
                "architectures": None,
            }
        )
        return ElectraPretrainingModel(
            ElectraGenerator(generator_config), discriminator
        ), ElectraTokenizer.from_pretrained(init)
    if not (model_size and vocab_file):
        raise ValueError(
            "pass --init DIR (converted checkpoint or encoder), or --model-size SIZE with --vocab FILE"
        )
    entry = get_model(f"chinese-electra-{model_size}")
    tokenizer = ElectraTokenizer(vocab_file)
    if len(tokenizer.vocab) != entry.vocab_size:
        raise ValueError(
            f"{vocab_file} has {len(tokenizer.vocab)} tokens, the {model_size} model {entry.vocab_size}: "
            "pass the Chinese ELECTRA vocab"
        )
    return ElectraPretrainingModel(
        ElectraGenerator(ElectraConfig(**entry.architecture("generator"))),
        ElectraDiscriminator(ElectraConfig(**entry.architecture("discriminator"))),
    ), tokenizer


def _batch(sequences, step, batch_size, tokenizer, mask_prob, seed, rank=0):
    """The step's batch from this process's `sequences`: deterministic in (seed, step, rank), so a
    resumed run sees the same data and masks."""
    rng = np.random.default_rng([seed, step, rank])
    rows = [
        sequences[i] for i in rng.choice(len(sequences), size=batch_size, replace=len(sequences) < batch_size)
    ]
    length = max(len(r) for r in rows)
    ids = np.zeros((batch_size, length), dtype="int64")
    mask = np.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)], mask[i, : len(r)] = r, 1
    specials = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id}
    masked, labels = mask_tokens(ids, mask, specials, tokenizer.mask_token_id, rng, mask_prob)
    return [paddle.to_tensor(a) for a in (masked, np.zeros_like(ids), mask, labels)]


def _metrics(out, attention_mask):
    gen_acc = float((out["gen_logits"].argmax(-1).numpy() == out["gen_labels"].numpy()).mean())
    real = attention_mask.numpy().astype(bool)
    replaced = out["replaced"].numpy()[real]
    scores = out["disc_logits"].numpy()[real]
    disc_acc = float(((scores > 0) == replaced).mean())
    auc = None
    if 0 < replaced.sum() < replaced.size:
        from sklearn.metrics import roc_auc_score

        auc = float(roc_auc_score(replaced, scores))
    return {
        "gen_loss": float(out["gen_loss"]),
        "disc_loss": float(out["disc_loss"]),
        "gen_acc": gen_acc,
        "disc_acc": disc_acc,
        "disc_auc": auc,
    }


def _checkpoints(output):
    """The checkpoint-STEP folders of `output`, oldest first."""
    found = [p for p in glob.glob(os.path.join(output, "checkpoint-*")) if p.rsplit("-", 1)[1].isdigit()]
    return sorted(found, key=lambda p: int(p.rsplit("-", 1)[1]))


def _latest_checkpoint(output):
    found = _checkpoints(output)
    return found[-1] if found else None


def _remove_old_checkpoints(output, keep):
    """Keep only the `keep` newest checkpoints (None: all)."""
    for old in _checkpoints(output)[:-keep] if keep else ():
        shutil.rmtree(old, ignore_errors=True)


def _rename_optimizer_state(state, names):
    """Optimizer state keys start with the parameter's generated name (e.g. `linear_3.w_0_moment1_0`),
    which differs between model instances; rename them with `names` (old prefix -> new prefix)."""
    renamed = {}
    for key, value in state.items():
        prefix = next((p for p in names if key.startswith(p + "_")), None)
        renamed[names[prefix] + key[len(prefix) :] if prefix else key] = value
    return renamed


def _save(model, tokenizer, optimizer, step, directory, scaler=None):
    tmp = directory + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    for tower in ("generator", "discriminator"):
        getattr(model, tower).save_pretrained(os.path.join(tmp, tower), safe_serialization=True)
        tokenizer.save_pretrained(os.path.join(tmp, tower))
    structured = {param.name: name for name, param in model.named_parameters()}
    paddle.save(
        _rename_optimizer_state(optimizer.state_dict(), structured), os.path.join(tmp, "optimizer.pdopt")
    )
    state = {"step": step}
    if scaler is not None:  # float16: the loss scale and its counters, for an exact resume
        state["loss_scaler"] = {
            key: value.tolist() if hasattr(value, "tolist") else value
            for key, value in scaler.state_dict().items()
        }
    with open(os.path.join(tmp, "state.json"), "w") as f:
        json.dump(state, f)
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(tmp, directory)


class MixedPrecision:
    """fp32 training, or Paddle's automatic mixed precision (`dtype` "float16" / "bfloat16", `level`
    O1: white-listed ops such as matmul in half precision; O2: the whole model in half precision with
    fp32 master weights in the optimizer, LayerNorm kept fp32). float16 scales the loss dynamically
    (paddle.amp.GradScaler); bfloat16 has fp32's range and needs no scaling. CUDA GPUs only: Paddle's
    AMP does nothing on CPUs, so asking for it there is an error rather than a silent fp32 run."""

    def __init__(self, dtype=None, level="O1"):
        if dtype not in (None, "float16", "bfloat16") or level not in ("O1", "O2"):
            raise ValueError(f"mixed precision {dtype} / {level}: use float16 or bfloat16 at level O1 or O2")
        if dtype and not gpu_visible():
            flag = "--fp16" if dtype == "float16" else "--bf16"
            raise ValueError(
                f"{flag}: mixed-precision training needs a CUDA GPU and paddlepaddle-gpu, "
                f"and none is visible: drop {flag} (training on CPU runs in fp32)"
            )
        if dtype == "bfloat16" and not paddle.amp.is_bfloat16_supported():
            raise ValueError(
                "--bf16: this GPU has no bf16 arithmetic (it needs an Ampere or newer GPU): use --fp16"
            )
        self.dtype, self.level = dtype, level
        self.scaler = paddle.amp.GradScaler(init_loss_scaling=2.0**15) if dtype == "float16" else None

    def decorate(self, model, optimizer):
        """O2: the model's weights in half precision (saved as fp32), fp32 master weights in the optimizer."""
        if self.dtype and self.level == "O2":
            return paddle.amp.decorate(
                models=model, optimizers=optimizer, level="O2", dtype=self.dtype, save_dtype="float32"
            )
        return model, optimizer

    def autocast(self):
        return (
            paddle.amp.auto_cast(dtype=self.dtype, level=self.level)
            if self.dtype
            else contextlib.nullcontext()
        )

    def step(self, loss, optimizer):
        """Backward and optimizer step; with float16, on the scaled loss (skipped when a gradient
        overflowed)."""
        if self.scaler is None:
            loss.backward()
            optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
        optimizer.clear_grad()


def _data_parallel():
    """(number of processes, this one's rank): under `python -m paddle.distributed.launch`, after
    joining the process group (NCCL on GPUs, gloo on CPUs); (1, 0) otherwise."""
    world = paddle.distributed.get_world_size()
    if world > 1 and not paddle.distributed.is_initialized():
        paddle.distributed.init_parallel_env()
    return world, paddle.distributed.get_rank()


def _barrier(world):
    if world > 1:
        paddle.distributed.barrier()


def pretrain(corpus, output, *, options=None, **keywords):
    """Continue (or start) ELECTRA pretraining on the text files `corpus`; resumes from the newest
    checkpoint in `output`. `options`: a `PretrainOptions` (default: its defaults); `keywords`: its
    fields by name, replacing those of `options` (e.g. `init="converted", steps=200`; any other name
    is a TypeError).
    The corpus is tokenised once into `corpus_dir` (default OUTPUT/corpus; reused while the files are
    unchanged) and read from there memory-mapped (`corpus.PackedSequences`), so it may exceed memory.
    Data-parallel under `python -m paddle.distributed.launch`: each process trains on its own shard of
    the corpus (`batch_size` sequences per process and step), gradients are averaged, the first
    process tokenises, logs and saves (the others wait for it), and a resumed run may use any number
    of processes. `fast_cpu` (default True; only on CPU): `fast_cpu.fast_training`, as in fine-tuning.
    `save_total_limit`: keep only that many newest checkpoints (default: all).
    `precision` "float16" / "bfloat16" at `amp_level` O1 / O2: mixed precision (`MixedPrecision`; GPU).
    Returns the metrics of the last logged step (None on the other processes)."""
    options = pretrain_options(options, **keywords)
    amp = MixedPrecision(options.precision, options.amp_level)
    world, rank = _data_parallel()
    resume = _latest_checkpoint(output)
    paddle.seed(options.seed)  # the new parts (generator, replaced-token-detection head) start the same
    model, tokenizer = build_model(resume or options.init, options.model_size, options.vocab_file)
    sequences = _sequences(corpus, output, tokenizer, options, world, rank)
    schedule, optimizer = _optimizer(model, options)
    model, optimizer = amp.decorate(model, optimizer)
    start = _resume(resume, model, optimizer, amp.scaler) if resume else 0
    os.makedirs(output, exist_ok=True)
    model.train()
    run = _Run(model, tokenizer, optimizer, schedule, amp, sequences, output, options, world, rank)
    last = _train_steps(run, start)
    if rank != 0:
        return None
    final = _latest_checkpoint(output)
    for tower in ("generator", "discriminator"):
        shutil.rmtree(os.path.join(output, tower), ignore_errors=True)
        shutil.copytree(os.path.join(final, tower), os.path.join(output, tower))
    return last


def _sequences(corpus, output, tokenizer, options, world, rank):
    """This process's shard of the packed corpus, tokenised once (by the first process) into
    `options.corpus_dir` (default OUTPUT/corpus)."""
    corpus_dir = options.corpus_dir or os.path.join(output, "corpus")
    if rank == 0:
        tokenize_corpus(corpus, tokenizer, corpus_dir, encoding=options.encoding)
    _barrier(world)
    sequences = PackedSequences(corpus_dir, tokenizer, options.max_seq_length).shard(rank, world)
    if world > 1:
        logger.info(
            "data-parallel pretraining over %d processes (rank %d: %d sequences)", world, rank, len(sequences)
        )
    return sequences


def _optimizer(model, options):
    """(learning-rate schedule, AdamW): linear warm-up over `warmup_steps` (default 10% of the steps),
    then linear decay to 0; no weight decay on biases and norms."""
    steps, peak = options.steps, options.learning_rate
    warmup = steps // 10 if options.warmup_steps is None else options.warmup_steps
    schedule = paddle.optimizer.lr.LambdaDecay(
        peak, lambda s: min((s + 1) / max(1, warmup), max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    no_decay = [p.name for n, p in model.named_parameters() if "bias" in n or "norm" in n]
    optimizer = paddle.optimizer.AdamW(
        schedule,
        parameters=model.parameters(),
        weight_decay=options.weight_decay,
        apply_decay_param_fun=lambda name: name not in no_decay,
    )
    return schedule, optimizer


def _resume(checkpoint, model, optimizer, scaler):
    """Load the optimizer state of `checkpoint` (and float16's loss scale into `scaler`); its step."""
    with open(os.path.join(checkpoint, "state.json")) as f:
        state = json.load(f)
    generated = {name: param.name for name, param in model.named_parameters()}
    optimizer.set_state_dict(
        _rename_optimizer_state(load_paddle_state(os.path.join(checkpoint, "optimizer.pdopt")), generated)
    )
    if scaler is not None and "loss_scaler" in state:
        scaler.load_state_dict(state["loss_scaler"])
    logger.info("resuming from %s at step %d", checkpoint, state["step"])
    return state["step"]


class _Run(NamedTuple):
    """What the training steps work with."""

    model: ElectraPretrainingModel
    tokenizer: ElectraTokenizer
    optimizer: paddle.optimizer.Optimizer
    schedule: paddle.optimizer.lr.LRScheduler
    amp: MixedPrecision
    sequences: PackedSequences
    output: str
    options: PretrainOptions
    world: int
    rank: int


def _train_steps(run, start):
    """Steps `start` to `options.steps` of `run`: metrics to OUTPUT/log.jsonl every `log_every`
    steps, a checkpoint every `save_every` and at the end. The last logged metrics ({} when none)."""
    options, world, rank = run.options, run.world, run.rank
    net = paddle.DataParallel(run.model) if world > 1 else run.model
    last = {}
    # data-parallel processes share the machine's cores: one thread each
    fast = (
        fast_training(run.model, 1 if world > 1 else None)
        if options.fast_cpu and paddle.get_device() == "cpu"
        else contextlib.nullcontext()
    )
    log = open(os.path.join(run.output, "log.jsonl"), "a") if rank == 0 else contextlib.nullcontext()
    with fast, log, tqdm(initial=start, total=options.steps, desc="pretraining", disable=rank != 0) as bar:
        for step in range(start, options.steps):
            paddle.seed(options.seed + step * world + rank)  # dropout and sampling noise, as after a resume
            ids, types, mask, labels = _batch(
                run.sequences, step, options.batch_size, run.tokenizer, options.mask_prob, options.seed, rank
            )
            with run.amp.autocast():
                loss, out = net(ids, types, mask, labels)
            run.amp.step(loss, run.optimizer)  # data-parallel: gradients averaged over the processes
            run.schedule.step()
            bar.update(1)
            done = step + 1 == options.steps
            if rank == 0 and ((step + 1) % options.log_every == 0 or done):
                last = {
                    "step": step + 1,
                    "loss": float(loss),
                    "lr": run.optimizer.get_lr(),
                    **_metrics(out, mask),
                }
                log.write(json.dumps(last) + "\n")
                log.flush()
                bar.set_postfix(
                    loss=f"{last['loss']:.3f}", gen_acc=f"{last['gen_acc']:.2f}", disc_auc=last["disc_auc"]
                )
            if (step + 1) % options.save_every == 0 or done:
                _checkpoint(run, step + 1)
    return last


def _checkpoint(run, step):
    """OUTPUT/checkpoint-`step` (by the first process, which then drops the oldest beyond
    `save_total_limit`); every process waits for it."""
    if run.rank == 0:
        directory = os.path.join(run.output, f"checkpoint-{step}")
        _save(run.model, run.tokenizer, run.optimizer, step, directory, run.amp.scaler)
        _remove_old_checkpoints(run.output, run.options.save_total_limit)
    _barrier(run.world)  # every process goes on (or ends) with the checkpoint on disk
