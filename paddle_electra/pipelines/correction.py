"""Chinese spelling correction (CSC) with ELECTRA's two towers.

    corrector = SpellingCorrector.from_pretrained("converted/generator", "converted/discriminator")
    corrector(["我跟我朋唷打算去法国玩儿。"])
    # [{"text": "我跟我朋友打算去法国玩儿。", "edits": [(4, "唷", "友")]}]

1. The discriminator reads the text and gives P(replaced) for every token.
2. A token is *suspicious* when it is one CJK character, is in the vocabulary, has P(replaced)
   >= `threshold`, and its character has at least one confusion candidate in the vocabulary.
   Digits, Latin words, punctuation, [UNK] and sub-word tokens are never suspicious, so they are
   never edited.
3. The generator sees the text with `[MASK]` in place of the suspicious token. With
   `mask_mode="each"` (the default) every suspicious position gets its own copy of the text, in
   which only that position is masked. The other characters stay as written, and each decision is
   taken independently. With `mask_mode="all"`, one copy per text masks every suspicious position
   at once. That is cheaper, but a text with many flags loses its context.
4. The candidates are the original character plus its confusion set (`ConfusionSet`), limited
   to characters that are single tokens of the vocabulary. The best candidate replaces the
   original only if log P(best) - log P(original) > `margin` (in nats) under the generator's
   distribution at the mask.

Positions are character indices into the input string. The corrected text is the input with
exactly the edited characters replaced: same length, and every other character unchanged
(spaces, full-width forms, letter case). It is not rebuilt from tokens, which would be
lower-cased. The alignment of tokens to characters is computed here (`TokenAligner`) and does not
use paddlenlp's `offset_mapping`, which is a heuristic that misplaces tokens after an [UNK]. The
ids are the same as the tokenizer's.

The confusion set comes from the confusion data of pycorrector 0.5.0 (Apache-2.0), shipped in this
package with its licence and attribution (paddle_electra/data/pycorrector/): `same_pinyin.txt`
(same pronunciation, with or without the same tone) and `same_stroke.txt` (similar shape); nothing
is downloaded. `ConfusionSet.from_pypinyin(chars)` builds a pronunciation-only set with pypinyin
(MIT), if that package is installed. The SIGHAN-15 test pairs (for benchmarks/sighan15.py) are
not shipped: `sighan15_test_file()` fetches them once (see there). See docs/correction.md.

Texts longer than `max_length` tokens (512 by default, [CLS]/[SEP] included) are corrected only
within their first `max_length - 2` tokens. The rest is returned unchanged.
"""

import os
import tarfile
from collections.abc import Mapping

import numpy as np

from paddle_electra.models.modeling import ElectraDiscriminator, ElectraGenerator
from paddle_electra.models.tokenizer import ElectraTokenizer, TokenAligner, is_cjk
from paddle_electra.runtime.batching import predict_items
from paddle_electra.runtime.predictor import Predictor
from paddle_electra.sources.pretrained import resolve
from paddle_electra.utils.cache import cache_dir, staged
from paddle_electra.utils.errors import PaddleElectraError
from paddle_electra.utils.numeric import log_softmax, sigmoid

PYCORRECTOR = "pycorrector 0.5.0"
PYCORRECTOR_LICENSE = "Apache-2.0"
CONFUSION_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "pycorrector")
# The SIGHAN-15 test pairs as pycorrector 0.5.0's sdist holds them (the sdist is only read, never built)
SIGHAN15_SDIST = (
    "pycorrector",
    "pycorrector-0.5.0.tar.gz",
    "b4e1a32a4f504a77ff95a3db5e389399e74be34486a1a0fa0afd2c1657fcd32a",
)
SIGHAN15_MEMBER = "pycorrector-0.5.0/pycorrector/data/cn/sighan_2015/test.tsv"


class ConfusionDataError(PaddleElectraError, RuntimeError):
    """The confusion data or the SIGHAN-15 pairs could not be fetched or read."""


def sighan15_test_file():
    """Path of the SIGHAN-15 test pairs (1100 `source<TAB>target` lines, simplified Chinese) that
    pycorrector 0.5.0's sdist holds, in <cache>/sighan15/test.tsv. The first call downloads that
    sdist (4.5 MB, pinned by its sha256) from the package index through `fetch.pypi_file` and reads
    the one member out of the archive; nothing of it is built, installed or run. Raises
    ConfusionDataError when the index cannot be reached."""
    from paddle_electra.sources.fetch import FetchError, pypi_file

    target = os.path.join(cache_dir(), "sighan15")
    path = os.path.join(target, "test.tsv")
    if os.path.isfile(path):
        return path
    project, filename, sha256 = SIGHAN15_SDIST
    with staged(target) as tmp:
        try:
            archive = pypi_file(project, filename, sha256, tmp)
        except FetchError as e:
            raise ConfusionDataError(f"cannot fetch the SIGHAN-15 pairs: {e}") from None
        with tarfile.open(archive, "r:gz") as tar, tar.extractfile(SIGHAN15_MEMBER) as src:
            data = src.read()
        with open(os.path.join(tmp, "test.tsv"), "wb") as f:
            f.write(data)
        os.remove(archive)
    return path


class ConfusionSet(Mapping):
    """character -> frozenset of characters it may have been confused with (itself excluded).

    A read-only mapping. `candidates(char)` returns an empty set for characters without
    candidates. Only single CJK characters are kept, both as keys and as candidates.
    """

    def __init__(self, mapping, source="", symmetric=False):
        table = {}
        for char, candidates in mapping.items():
            if len(char) != 1 or not is_cjk(char):
                continue
            for c in candidates:
                if len(c) == 1 and c != char and is_cjk(c):
                    table.setdefault(char, set()).add(c)
                    if symmetric:
                        table.setdefault(c, set()).add(char)
        self._table = {k: frozenset(v) for k, v in table.items()}
        self.source = source

    def __getitem__(self, char):
        return self._table[char]

    def __iter__(self):
        return iter(self._table)

    def __len__(self):
        return len(self._table)

    def __repr__(self):
        return f"ConfusionSet({len(self)} characters, {self.pairs()} pairs, source={self.source!r})"

    def candidates(self, char):
        return self._table.get(char, frozenset())

    def pairs(self):
        return sum(len(v) for v in self._table.values())

    def union(self, other):
        merged = {k: set(v) for k, v in self._table.items()}
        for k, v in other.items():
            merged.setdefault(k, set()).update(v)
        return ConfusionSet(
            merged, source=" + ".join(s for s in (self.source, getattr(other, "source", "")) if s)
        )

    __or__ = union

    def restricted_to(self, chars):
        """Only keys and candidates in `chars` (e.g. the single-character tokens of a vocabulary)."""
        chars = set(chars)
        return ConfusionSet({k: v & chars for k, v in self._table.items() if k in chars}, source=self.source)

    @staticmethod
    def read_same_pinyin(path):
        """pycorrector's same_pinyin.txt: `char<TAB>same sound, same tone<TAB>same sound, other tone`.
        Some lines lack the third column (they have no trailing tab). These are kept here;
        pycorrector's own loader drops them."""
        table = {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\r\n").split("\t")
                if not parts[0] or parts[0].startswith("#") or len(parts) < 2:
                    continue
                table.setdefault(parts[0].strip(), set()).update("".join(p.strip() for p in parts[1:]))
        return table

    @staticmethod
    def read_same_stroke(path):
        """pycorrector's same_stroke.txt: one group of similar-looking characters per line, separated
        by tabs."""
        table = {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                group = [c.strip() for c in line.rstrip("\r\n").split("\t") if c.strip()]
                if not group or group[0].startswith("#"):
                    continue
                for c in group:
                    table.setdefault(c, set()).update(x for x in group if x != c)
        return table

    @classmethod
    def from_pycorrector(cls, kinds=("pinyin", "stroke"), symmetric=True, directory=None):
        """pycorrector 0.5.0's confusion data (Apache-2.0), shipped in CONFUSION_DIR (`directory`:
        another folder with the same two files).

        kinds: "pinyin" (same_pinyin.txt) and/or "stroke" (same_stroke.txt). With `symmetric`
        (the default), a is a candidate for b whenever b is one for a. Sound and shape similarity
        are symmetric relations, and the files list some pairs one way only (因 -> 应 but not 应 -> 因).
        """
        directory = directory or CONFUSION_DIR
        table = {}
        for kind in kinds:
            if kind not in ("pinyin", "stroke"):
                raise ValueError(f"unknown confusion kind {kind!r}: use 'pinyin' and/or 'stroke'")
            read = cls.read_same_pinyin if kind == "pinyin" else cls.read_same_stroke
            for k, v in read(os.path.join(directory, f"same_{kind}.txt")).items():
                table.setdefault(k, set()).update(v)
        return cls(
            table, source=f"{PYCORRECTOR} same_{'+'.join(kinds)} ({PYCORRECTOR_LICENSE})", symmetric=symmetric
        )

    @classmethod
    def from_pypinyin(cls, chars, tones=False):
        """Same pronunciation per pypinyin (MIT; `pip install pypinyin`), over `chars` (e.g. the
        vocabulary). Every reading of a heteronym counts. By default tones are ignored."""
        try:
            from pypinyin import Style, pinyin
        except ImportError as e:
            raise ConfusionDataError("ConfusionSet.from_pypinyin needs pypinyin: pip install pypinyin") from e
        style = Style.TONE3 if tones else Style.NORMAL
        by_sound, sounds = {}, {}
        for char in {c for c in chars if len(c) == 1 and is_cjk(c)}:
            result = pinyin(char, style=style, heteronym=True, errors="ignore")
            readings = {r for r in result[0] if r} if result else set()
            readings.discard(char)  # pypinyin echoes characters it does not know
            sounds[char] = readings
            for r in readings:
                by_sound.setdefault(r, set()).add(char)
        table = {c: set().union(*(by_sound[r] for r in rs)) for c, rs in sounds.items() if rs}
        return cls(table, source=f"pypinyin same {'sound and tone' if tones else 'sound, any tone'} (MIT)")


class SpellingCorrector:
    """Discriminator flags, generator proposes, confusion set restricts (see the module docstring).

    Both towers run through `Predictor` (the static export by default), in batches of texts of
    similar length. Calling the corrector corrects texts; `detect` runs the discriminator alone.

    Args:
        generator: an ElectraGenerator sharing `tokenizer`'s vocabulary.
        discriminator: an ElectraDiscriminator of the same model (same vocabulary).
        tokenizer: the ElectraTokenizer of both towers.
        confusion: a ConfusionSet (or any char -> iterable of chars mapping); restricted to the
            characters that are single tokens of the vocabulary (`vocab_chars`).
        threshold: minimum P(replaced) for a token to be reconsidered. 0.0 reconsiders every CJK
            character.
        margin: nats by which the best candidate must beat the original.
        mask_mode: "each" (one masked copy per suspicious position) or "all" (one copy per text).
        max_length: tokens per text, [CLS]/[SEP] included (at most the towers'
            max_position_embeddings); longer texts are corrected within their first
            `max_length - 2` tokens.
        runtime: Predictor options for both towers (backend, precision, threads; default: the
            fast static path).

    Raises:
        ValueError: an unknown `mask_mode`, or towers and tokenizer whose vocabularies differ.
    """

    def __init__(
        self,
        generator,
        discriminator,
        tokenizer,
        confusion,
        threshold=0.5,
        margin=1.0,
        mask_mode="each",
        max_length=512,
        runtime=None,
    ):
        if mask_mode not in ("each", "all"):
            raise ValueError(f"mask_mode must be 'each' or 'all', not {mask_mode!r}")
        sizes = {generator.config.vocab_size, discriminator.config.vocab_size}
        if len(sizes) != 1 or len(tokenizer.vocab) > max(sizes):
            raise ValueError(
                f"generator ({generator.config.vocab_size}), "
                f"discriminator ({discriminator.config.vocab_size}) and "
                f"tokenizer ({len(tokenizer.vocab)}) vocabularies differ: "
                "they must be the two towers of one model"
            )
        self.generator, self.discriminator = (
            Predictor(generator, **(runtime or {})),
            Predictor(discriminator, **(runtime or {})),
        )
        self.tokenizer = tokenizer
        self.threshold, self.margin, self.mask_mode = threshold, margin, mask_mode
        limits = [generator.config.max_position_embeddings, discriminator.config.max_position_embeddings]
        self.max_length = min([max_length] + limits)
        self.align = TokenAligner(tokenizer)
        vocab = tokenizer.vocab.token_to_idx
        self._char_ids = {t: i for t, i in vocab.items() if len(t) == 1 and is_cjk(t)}
        self.confusion = confusion

    @property
    def vocab_chars(self):
        """The CJK characters that are single tokens of the vocabulary: the only possible corrections."""
        return frozenset(self._char_ids)

    @property
    def confusion(self):
        """The confusion set in use, limited to `vocab_chars`. Assigning one restricts it the same way."""
        return self._confusion

    @confusion.setter
    def confusion(self, confusion):
        if not isinstance(confusion, ConfusionSet):
            confusion = ConfusionSet(confusion)
        self._confusion = confusion.restricted_to(self._char_ids)

    @classmethod
    def from_pretrained(cls, generator_dir, discriminator_dir=None, confusion=None, **kwargs):
        """Load both towers: two model directories, or one zoo name for both.

        Args:
            generator_dir: the generator's model directory, or a model name (zoo name or Hub repo
                id) for both towers when `discriminator_dir` is None, e.g.
                "chinese-electra-180g-base"; names are fetched on first use (see
                paddle_electra.sources.pretrained).
            discriminator_dir: the discriminator's model directory (or name). The tokenizer comes
                from this directory.
            confusion: the ConfusionSet; defaults to ConfusionSet.from_pycorrector() (shipped with
                the package).
            **kwargs: the other SpellingCorrector arguments (threshold, margin, mask_mode,
                max_length, runtime).

        Returns:
            SpellingCorrector: the corrector over the two loaded towers.
        """
        discriminator_dir = resolve(
            generator_dir if discriminator_dir is None else discriminator_dir, "discriminator"
        )
        return cls(
            ElectraGenerator.from_pretrained(generator_dir),
            ElectraDiscriminator.from_pretrained(discriminator_dir),
            ElectraTokenizer.from_pretrained(discriminator_dir),
            confusion if confusion is not None else ConfusionSet.from_pycorrector(),
            **kwargs,
        )

    def _encode(self, text):
        ids, spans = self.align(text)
        keep = self.max_length - 2
        tok = self.tokenizer
        return {
            "input_ids": [tok.cls_token_id] + ids[:keep] + [tok.sep_token_id],
            "spans": [None] + spans[:keep] + [None],
        }

    def detect(self, texts, batch_size=16):
        """The discriminator alone: per text, [(position, character, P(replaced)), ...] for every
        character the corrector could edit (a CJK character that is its own vocabulary token),
        whatever its probability."""
        return [
            [(position, text[position], p) for _, position, p in flagged]
            for text, (_, flagged) in zip(texts, self._detect(texts, batch_size))
        ]

    def _detect(self, texts, batch_size):
        """Per text: (encoded item, [(token index, position, P(replaced)), ...] for the editable
        characters)."""
        items = [self._encode(text) for text in texts]

        def on_batch(batch, outputs):
            return sigmoid(outputs[0]).tolist()

        probs = predict_items(self.discriminator, items, batch_size, keys=("input_ids",), on_batch=on_batch)
        out = []
        for text, item, p in zip(texts, items, probs):
            flagged = []
            for t, (tid, span) in enumerate(zip(item["input_ids"], item["spans"])):
                if span is None or span[1] - span[0] != 1:
                    continue
                char = text[span[0]]
                if (
                    self._char_ids.get(char) == tid
                ):  # the token is this very character, not [UNK] or a normalized form
                    flagged.append((t, span[0], p[t]))
            out.append((item, flagged))
        return out

    def __call__(self, texts, batch_size=16, details=False):
        """Correct texts.

        Args:
            texts: a list of strings, or one string.
            batch_size: texts (discriminator) or masked copies (generator) per forward pass.
            details: also return what the towers saw and scored.

        Returns:
            dict or list of dict: per text (one dict for one string)
            {"text": corrected text, "edits": [(position, wrong, right), ...]}, positions being
            character indices into the input (sorted). With `details`, each result also has
            "suspects": [(position, char, P(replaced)), ...] and "scores":
            {position: {candidate: log P}} for the positions the generator scored.
        """
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        jobs, suspects = self._masked_jobs(texts, batch_size)
        corrected, edits, scores = self._choose(texts, self._score(jobs, batch_size))
        results = []
        for n, text in enumerate(corrected):
            result = {"text": text, "edits": sorted(edits[n])}
            if details:
                result["suspects"] = suspects[n]
                result["scores"] = scores[n]
            results.append(result)
        return results[0] if single else results

    def _masked_jobs(self, texts, batch_size):
        """The generator's inputs and the suspects. A job is {"input_ids": masked ids, "targets":
        [(text index, token index, position, candidate ids), ...]}, the original token's id first
        among the candidate ids; per text, suspects are [(position, char, P(replaced)), ...]."""
        mask_id = self.tokenizer.mask_token_id
        jobs, suspects = [], [[] for _ in texts]
        for n, (item, flagged) in enumerate(self._detect(texts, batch_size)):
            targets = self._targets(n, texts[n], item, flagged, suspects[n])
            groups = (
                [[target] for target in targets]
                if self.mask_mode == "each"
                else ([targets] if targets else [])
            )
            for group in groups:
                masked = list(item["input_ids"])
                for _, t, _, _ in group:
                    masked[t] = mask_id
                jobs.append({"input_ids": masked, "targets": group})
        return jobs, suspects

    def _targets(self, n, text, item, flagged, suspects):
        """The flagged tokens of text `n` at or above the threshold that have confusion candidates:
        [(n, token index, position, [original id] + candidate ids), ...]; appends them to `suspects`."""
        targets = []
        for t, position, p in flagged:
            if p < self.threshold:
                continue
            candidates = self.confusion.candidates(text[position])
            if not candidates:
                continue
            suspects.append((position, text[position], p))
            ids = [item["input_ids"][t]] + sorted(self._char_ids[c] for c in candidates)
            targets.append((n, t, position, ids))
        return targets

    def _score(self, jobs, batch_size):
        """Per job: [(target, log P of its candidate ids at the mask), ...] under the generator."""

        def on_batch(batch, outputs):
            rows, tokens = zip(*[(row, t) for row, job in enumerate(batch) for _, t, _, _ in job["targets"]])
            logp = log_softmax(outputs[0][list(rows), list(tokens)])
            results, k = [], 0
            for job in batch:
                scored = []
                for target in job["targets"]:
                    scored.append((target, logp[k, target[3]]))
                    k += 1
                results.append(scored)
            return results

        if not jobs:
            return []
        return predict_items(self.generator, jobs, batch_size, keys=("input_ids",), on_batch=on_batch)

    def _choose(self, texts, scored):
        """Apply the candidates that beat the original by more than the margin: (corrected texts,
        per text [(position, wrong, right), ...], per text {position: {candidate: log P}})."""
        chars = [list(text) for text in texts]
        edits = [[] for _ in texts]
        scores = [{} for _ in texts]
        id_to_char = {i: c for c, i in self._char_ids.items()}
        for job_scores in scored:
            for (n, _, position, ids), logp in job_scores:
                scores[n][position] = {id_to_char[i]: float(v) for i, v in zip(ids, logp)}
                best = 1 + int(np.argmax(logp[1:]))
                if logp[best] - logp[0] > self.margin:
                    right = id_to_char[ids[best]]
                    edits[n].append((position, texts[n][position], right))
                    chars[n][position] = right
        return ["".join(c) for c in chars], edits, scores


def gold_edits(source, target):
    """The edits that turn `source` into `target`: [(position, wrong, right), ...]. The SIGHAN
    pairs have equal lengths. Other pairs raise ValueError."""
    if len(source) != len(target):
        raise ValueError(f"source and target differ in length ({len(source)} vs {len(target)}): {source!r}")
    return [(i, a, b) for i, (a, b) in enumerate(zip(source, target)) if a != b]


def _prf(tp, predicted, gold):
    p = tp / predicted if predicted else 0.0
    r = tp / gold if gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "tp": tp}


def sentence_metrics(predicted_edits, gold_edits_list):
    """Sentence-level detection and correction precision / recall / F1, as computed by most CSC
    papers (SpellGCN, REALISE, PLOME, ...; the `sent_metric_detect` / `sent_metric_correct` code of
    SpellGCN and REALISE):

    - a sentence is gold-positive when it has at least one gold edit, and predicted-positive when
      the system made at least one edit;
    - detection TP: a predicted-positive sentence whose set of edited positions equals the gold set;
    - correction TP: a predicted-positive sentence whose set of (position, corrected character)
      equals the gold set;
    - precision = TP / predicted-positive sentences, recall = TP / gold-positive sentences,
      F1 = 2PR / (P + R);
    - accuracy = sentences whose predicted set equals the gold set (both empty included) / all;
    - false-positive rate (fpr) = gold-negative sentences with any edit / gold-negative sentences.

    Both arguments: per sentence, a list of (position, wrong, right).
    """
    if len(predicted_edits) != len(gold_edits_list):
        raise ValueError(f"{len(predicted_edits)} predictions for {len(gold_edits_list)} sentences")
    n = len(gold_edits_list)
    predicted = gold = negatives = false_pos = 0
    tp = {"detection": 0, "correction": 0}
    hit = {"detection": 0, "correction": 0}
    for pred, ref in zip(predicted_edits, gold_edits_list):
        sets = {
            "detection": ({e[0] for e in pred}, {e[0] for e in ref}),
            "correction": ({(e[0], e[2]) for e in pred}, {(e[0], e[2]) for e in ref}),
        }
        predicted += bool(pred)
        gold += bool(ref)
        if not ref:
            negatives += 1
            false_pos += bool(pred)
        for level, (p, g) in sets.items():
            hit[level] += p == g
            tp[level] += bool(pred) and p == g
    out = {
        "sentences": n,
        "gold_positive": gold,
        "predicted_positive": predicted,
        "fpr": false_pos / negatives if negatives else 0.0,
    }
    for level in ("detection", "correction"):
        out[level] = dict(_prf(tp[level], predicted, gold), accuracy=hit[level] / n if n else 0.0)
    return out


def pycorrector_sentence_metrics(sources, predictions, targets):
    """pycorrector 0.5.0's own `eval_sighan2015_by_model` score, for comparison with its README.
    It counts a sentence right when the whole corrected sentence equals the target. TP: gold
    error, right. FN: gold error, wrong (a wrong correction is counted only here, never as FP).
    FP: no gold error, changed. TN: no gold error, unchanged. It is not the standard
    `sentence_metrics`."""
    tp = fp = fn = tn = 0
    for src, pred, tgt in zip(sources, predictions, targets):
        if src == tgt:
            tn, fp = (tn + 1, fp) if pred == tgt else (tn, fp + 1)
        else:
            tp, fn = (tp + 1, fn) if pred == tgt else (tp, fn + 1)
    p = tp / (tp + fp) if tp else 0.0
    r = tp / (tp + fn) if tp else 0.0
    n = tp + fp + fn + tn
    return {
        "accuracy": (tp + tn) / n if n else 0.0,
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
    }


def read_sighan15(path=None):
    """SIGHAN-15 test pairs as pycorrector 0.5.0 has them (data/cn/sighan_2015/test.tsv): 1100
    `source<TAB>target` lines, already in simplified Chinese (default: `sighan15_test_file()`).
    Returns [(source, target), ...]."""
    path = path or sighan15_test_file()
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 2:
                raise ValueError(f"{path}: expected source<TAB>target, got {line!r}")
            pairs.append((parts[0], parts[1]))
    return pairs


__all__ = [
    "ConfusionDataError",
    "ConfusionSet",
    "SpellingCorrector",
    "gold_edits",
    "pycorrector_sentence_metrics",
    "read_sighan15",
    "sentence_metrics",
    "sighan15_test_file",
]
