"""Training: fine-tuning with the paddlenlp Trainer, continued pretraining, and the fast CPU path.

- `finetune.py`: `finetune`, `evaluate`, `predict` for any task kind; `options.py`: their options,
  declared once (CLI flags come from them).
- `trainer.py`: the paddlenlp Trainer glue (collation, dev evaluation, logging).
- `pretraining.py`: ELECTRA's generator + discriminator pretraining; `corpus.py`: its tokenized corpus.
- `fast_cpu.py`, `fused_cpu.py`, `fused_cpu.c`: every core, and C kernels fusing each layer's non-GEMM work.
"""
