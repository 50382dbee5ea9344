"""Write the torch file-format fixtures for convert/torch_pickle.py (our torch-free, allow-listed unpickler).

Produces, under tests/fixtures/torch_formats/:
  zip.bin       the state dict saved with the default torch.save (zip format, torch >= 1.6)
  legacy.bin    the same dict saved with _use_new_zipfile_serialization=False (legacy format:
                magic number, protocol, sys info, main pickle, storage keys, raw storages)
  expected.npz  what load_torch_state_dict must return for both: one array per key, same
                dtype (bfloat16 given as float32, which it widens to exactly)

The dict is a tiny ELECTRA-like state dict that exercises the layouts a real checkpoint has:
  - an OrderedDict with `_metadata` (what nn.Module.state_dict() returns), plain float32 2-D
    and 1-D weights taken from a module
  - an int64 buffer `position_ids` = arange(n).expand((1, -1)), as HF has, and an int64 tensor
    with a stride-0 dimension (an expand over a real dimension)
  - a transposed (non-contiguous, strides kept by torch.save) float32 weight: `w.t()`
  - a slice with a storage offset sharing its storage with a saved tensor: `big` and `big[2:5]`
  - a 0-d int64 tensor, a float16 and a bfloat16 tensor, and one nn.Parameter (pickled through
    torch._utils._rebuild_parameter)
Values are small integers / multiples of 1/8 so they are exact in every dtype.

Needs the reference env only (torch); run from the repo root:
    $PADDLE_ELECTRA_REF_PYTHON scripts/make_torch_fixtures.py
"""

import collections
import os

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "torch_formats")


def grid(*shape, start=0):
    n = int(np.prod(shape))
    return (torch.arange(start, start + n, dtype=torch.float32) / 8 - 1).reshape(shape)


def build_state_dict():
    module = torch.nn.Module()
    module.embeddings = torch.nn.Module()
    module.embeddings.word_embeddings = torch.nn.Embedding(6, 4)
    module.embeddings.LayerNorm = torch.nn.LayerNorm(4)
    with torch.no_grad():
        module.embeddings.word_embeddings.weight.copy_(grid(6, 4))
        module.embeddings.LayerNorm.weight.copy_(grid(4, start=30))
        module.embeddings.LayerNorm.bias.copy_(grid(4, start=40))
    module.embeddings.register_buffer("position_ids", torch.arange(8).expand((1, -1)))
    state = module.state_dict()  # OrderedDict with _metadata, plain (detached) tensors

    query = grid(3, 4, start=50)
    big = grid(8, 3, start=70)
    state["encoder.layer.0.attention.self.query.weight_t"] = query.t()  # [4, 3], strides (1, 4)
    state["encoder.big"] = big
    state["encoder.big_rows_2_5"] = big[2:5]  # same storage as encoder.big, offset 6
    state["encoder.token_type_ids"] = torch.tensor([0, 1, 1]).expand((2, -1))  # int64 [2, 3], strides (0, 1)
    state["encoder.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)  # 0-d
    state["encoder.half"] = grid(2, 3, start=100).half()
    state["encoder.bf16"] = grid(3, 2, start=110).bfloat16()
    state["encoder.parameter"] = torch.nn.Parameter(grid(2, 2, start=120))

    assert not state["encoder.layer.0.attention.self.query.weight_t"].is_contiguous()
    assert state["encoder.big_rows_2_5"].storage_offset() == 6
    assert state["encoder.token_type_ids"].stride() == (0, 1)
    return state


def expected_arrays(state):
    out = collections.OrderedDict()
    for key, tensor in state.items():
        tensor = tensor.detach()
        out[key] = tensor.float().numpy() if tensor.dtype == torch.bfloat16 else tensor.numpy().copy()
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    state = build_state_dict()
    torch.save(state, os.path.join(OUT, "zip.bin"))
    torch.save(state, os.path.join(OUT, "legacy.bin"), _use_new_zipfile_serialization=False)
    np.savez(os.path.join(OUT, "expected.npz"), **expected_arrays(state))

    # the files must round-trip through torch itself
    for name in ("zip.bin", "legacy.bin"):
        loaded = torch.load(os.path.join(OUT, name), weights_only=True)
        assert list(loaded) == list(state)
        assert all(torch.equal(loaded[k], state[k]) for k in state)
    total = 0
    for name in sorted(os.listdir(OUT)):
        size = os.path.getsize(os.path.join(OUT, name))
        total += size
        print(f"{name:14s} {size:6d} bytes")
    print(f"{'total':14s} {total:6d} bytes")


if __name__ == "__main__":
    main()
