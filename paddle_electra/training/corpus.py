"""A pretraining corpus on disk: plain text tokenised once into a flat file of token ids, read through
`numpy.memmap`, so a corpus larger than memory works and a resumed run does not tokenise again.

    tokenize_corpus(["a.txt", "b.txt"], tokenizer, "run/corpus")      # once: run/corpus/tokens.bin
    sequences = PackedSequences("run/corpus", tokenizer, max_seq_length=128).shard(rank, world)
    sequences[i]   # [CLS] + up to 126 token ids + [SEP], read from disk on demand

Lines (one document or sentence each) are concatenated; sequence i holds tokens
[i * (L - 2), (i + 1) * (L - 2)) of the stream, so a sequence may span lines. `shard` gives each
data-parallel process its own contiguous range of sequences (the pages it reads).
"""

import hashlib
import json
import os

import numpy as np
from tqdm import tqdm

from paddle_electra.tasks.readers import codec, decoded

TOKENS, META = "tokens.bin", "meta.json"
LINES_PER_BATCH = 4096


def _fingerprint(files, tokenizer, encoding="utf-8"):
    """What the token file depends on: each file's path, size and modification time, the vocab and
    (when not UTF-8) the files' encoding."""
    digest = hashlib.sha1()
    if codec(encoding) != codec("utf-8"):
        digest.update(f"encoding {codec(encoding)}\0".encode())
    for path in files:
        stat = os.stat(path)
        digest.update(f"{os.path.abspath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    digest.update(
        json.dumps([sorted(tokenizer.vocab.token_to_idx.items()), tokenizer.do_lower_case]).encode()
    )
    return digest.hexdigest()


def _lines(files, encoding="utf-8"):
    name = codec(encoding)
    plain = "utf-8" if name == "utf-8-sig" else name  # the bytes a line took (a BOM only starts a file)
    for path in files:
        with open(path, encoding=name) as f:
            for line in decoded(f, path, encoding):
                yield len(line.encode(plain)), line.strip()


def tokenize_corpus(files, tokenizer, directory, progress=True, encoding="utf-8"):
    """Token ids of every non-empty line of `files`, in order, written to `directory`/tokens.bin
    (uint16 where the vocab allows, else int32) in batches of lines, never the whole corpus in memory.
    Nothing is done when the directory already holds the same files' tokens. Returns its meta.json."""
    fingerprint = _fingerprint(files, tokenizer, encoding)
    meta_path = os.path.join(directory, META)
    if os.path.isfile(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        if meta["fingerprint"] == fingerprint:
            return meta
    os.makedirs(directory, exist_ok=True)
    dtype = np.uint16 if len(tokenizer.vocab) <= np.iinfo(np.uint16).max + 1 else np.int32
    partial, count = os.path.join(directory, TOKENS + ".partial"), 0
    total = sum(os.path.getsize(path) for path in files)
    with open(partial, "wb") as out, tqdm(
        total=total, unit="B", unit_scale=True, desc="tokenizing", disable=not progress
    ) as bar:
        batch = []

        def flush():
            nonlocal count
            encoded = [ids[1:-1] for ids in tokenizer.encode_batch(batch)["input_ids"]]  # no [CLS]/[SEP]
            flat = np.fromiter((i for ids in encoded for i in ids), dtype=dtype)
            out.write(flat.tobytes())
            count += flat.size
            batch.clear()

        for size, text in _lines(files, encoding):
            bar.update(size)
            if text:
                batch.append(text)
            if len(batch) == LINES_PER_BATCH:
                flush()
        if batch:
            flush()
    if count == 0:
        os.remove(partial)
        raise ValueError(f"the corpus {files} holds no text")
    os.replace(partial, os.path.join(directory, TOKENS))
    meta = {
        "fingerprint": fingerprint,
        "tokens": count,
        "dtype": np.dtype(dtype).name,
        "files": [os.path.abspath(p) for p in files],
    }
    with open(meta_path + ".partial", "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(meta_path + ".partial", meta_path)
    return meta


class PackedSequences:
    """[CLS] + up to max_seq_length - 2 tokens + [SEP] sequences, cut on demand from the memory-mapped
    token file of `tokenize_corpus` (sequences `start` to `stop` of the whole corpus)."""

    def __init__(self, directory, tokenizer, max_seq_length, start=0, stop=None):
        with open(os.path.join(directory, META)) as f:
            meta = json.load(f)
        self.directory, self.tokenizer, self.max_seq_length = directory, tokenizer, max_seq_length
        self.tokens = np.memmap(
            os.path.join(directory, TOKENS), dtype=meta["dtype"], mode="r", shape=(meta["tokens"],)
        )
        self.body = max_seq_length - 2
        total = -(-meta["tokens"] // self.body)
        self.start, self.stop = start, total if stop is None else stop

    def __len__(self):
        return self.stop - self.start

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(index)
        offset = (self.start + index) * self.body
        body = self.tokens[offset : offset + self.body].astype(np.int64)
        return np.concatenate([[self.tokenizer.cls_token_id], body, [self.tokenizer.sep_token_id]])

    def shard(self, rank, world):
        """Process `rank` of `world`'s contiguous share of these sequences."""
        n = len(self)
        if n < world:
            raise ValueError(
                f"the corpus packs into {n} sequence(s), fewer than the {world} processes: give it more text"
            )
        return PackedSequences(
            self.directory,
            self.tokenizer,
            self.max_seq_length,
            self.start + n * rank // world,
            self.start + n * (rank + 1) // world,
        )
