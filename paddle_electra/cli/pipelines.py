"""The towers on text: `fill-mask` (the generator), `rtd` (the discriminator), `correct` (both:
Chinese spelling correction)."""

import json

from paddle_electra.cli.common import UsageError, model_dir, utf8_texts
from paddle_electra.cli.options import MODEL_NAME, add_model_option, add_runtime_options, runtime_options


def add_fill_mask(sub):
    fm = sub.add_parser(
        "fill-mask",
        help="the generator's top-k candidates for each [MASK]",
        description="Print the generator's top-k tokens with probabilities for every [MASK] in each text.",
    )
    add_model_option(fm, f"generator directory (e.g. converted/generator) or a {MODEL_NAME}", required=True)
    fm.add_argument("--top-k", type=int, default=5, help="candidates per [MASK] (default 5)")
    fm.add_argument("text", nargs="+", help="text with [MASK], e.g. 今天[MASK]气很好")
    add_runtime_options(fm)
    fm.set_defaults(func=_fill_mask)


def _fill_mask(args):
    from paddle_electra.pipelines.towers import FillMask

    texts = utf8_texts(args.text)
    fill_mask = FillMask.from_pretrained(model_dir(args.model, "generator"), runtime_options(args))
    for text, per_mask in zip(texts, fill_mask(texts, top_k=args.top_k)):
        if not per_mask:
            raise UsageError(f"no [MASK] in {text!r}: write [MASK] where the generator should fill in")
        print(text)
        for i, candidates in enumerate(per_mask):
            print(f"  [MASK] #{i + 1}: " + "  ".join(f"{token} {p:.4f}" for token, p in candidates))


def add_rtd(sub):
    rtd = sub.add_parser(
        "rtd",
        help="the discriminator's probability that each token was replaced",
        description="Replaced-token detection: print P(replaced) for every token of each text.",
    )
    add_model_option(
        rtd, f"discriminator directory (e.g. converted/discriminator) or a {MODEL_NAME}", required=True
    )
    rtd.add_argument("text", nargs="+", help="text to check")
    add_runtime_options(rtd)
    rtd.set_defaults(func=_rtd)


def _rtd(args):
    from paddle_electra.pipelines.towers import ReplacedTokenDetection

    texts = utf8_texts(args.text)
    detect = ReplacedTokenDetection.from_pretrained(model_dir(args.model), runtime_options(args))
    for text, result in zip(texts, detect(texts)):
        print(text)
        print("  " + "  ".join(f"{t} {p:.3f}" for t, p in zip(result["tokens"][1:-1], result["probs"][1:-1])))


def add_correct(sub):
    cor = sub.add_parser(
        "correct",
        help="Chinese spelling correction: the discriminator flags characters, the generator replaces them",
        description="Chinese spelling correction with both towers. Characters whose P(replaced) reaches "
        "--threshold are masked and the generator chooses among the character and its confusion set "
        "(pycorrector 0.5.0's same-pinyin and same-shape data, Apache-2.0, shipped in the package). Prints "
        "the corrected text and each edit as `position: wrong -> right` (character positions in the input).",
    )
    add_model_option(cor, "zoo name for both towers, e.g. chinese-electra-180g-base (fetched on first use)")
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
    add_runtime_options(cor)
    cor.set_defaults(func=_correct)


def _correct(args):
    from paddle_electra.pipelines.correction import ConfusionDataError, SpellingCorrector

    try:
        if not args.model and not (args.generator and args.discriminator):
            raise UsageError(
                "pass --model NAME (a zoo name: both towers), or --generator DIR and --discriminator DIR"
            )
        corrector = SpellingCorrector.from_pretrained(
            model_dir(args.generator or args.model, "generator"),
            model_dir(args.discriminator or args.model),
            threshold=args.threshold,
            margin=args.margin,
            mask_mode=args.mask_mode,
            runtime=runtime_options(args),
        )
    except ConfusionDataError as e:
        raise UsageError(str(e)) from None
    for text, result in zip(args.text, corrector(args.text, batch_size=args.batch_size)):
        if args.json:
            record = {"source": text, "text": result["text"], "edits": result["edits"]}
            print(json.dumps(record, ensure_ascii=False))
            continue
        print(result["text"])
        for position, wrong, right in result["edits"]:
            print(f"  {position}: {wrong} -> {right}")
