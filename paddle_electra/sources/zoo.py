"""The model zoo: every released ELECTRA model, by name, with its exact architecture.

    from paddle_electra.sources.zoo import get_model
    entry = get_model("chinese-electra-base")
    entry.architecture("discriminator")  # -> {"vocab_size": 21128, "hidden_size": 768, ...}
    entry.parameters("generator")  # -> int
    entry.hf_hub_repo("generator")    # -> "hfl/chinese-electra-base-generator"

HFL's release zips hold only the checkpoint and vocab.txt, no config: `paddle-electra convert tf
CHECKPOINT --model NAME` takes both towers' architecture and the vocabulary facts from here. Every
model is also on the Hugging Face Hub in PyTorch format, one repo per tower (`hf_hub_repo`):
`ElectraModel.from_pretrained(NAME)` and `paddle-electra download NAME` fetch and convert them
(paddle_electra.sources.pretrained). `register(entry)` adds a model (tests register their fixture model).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Tower:
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int


@dataclass(frozen=True)
class ZooModel:
    name: str
    family: str
    embedding_size: int
    discriminator: Tower
    generator: Tower
    vocab_size: int
    do_lower_case: bool
    release: str  # the file (or HF hub id) a user downloads
    hub: str = ""  # Hugging Face Hub repos "{hub}-discriminator" and "{hub}-generator"
    max_position_embeddings: int = 512

    def hf_hub_repo(self, tower):
        return f"{self.hub}-{tower}"

    def architecture(self, tower):
        """The architecture fields of that tower (`ElectraConfig(**entry.architecture(tower))` builds it)."""
        t = getattr(self, tower)
        return {
            "vocab_size": self.vocab_size,
            "embedding_size": self.embedding_size,
            "hidden_size": t.hidden_size,
            "num_hidden_layers": t.num_hidden_layers,
            "num_attention_heads": t.num_attention_heads,
            "intermediate_size": t.intermediate_size,
            "max_position_embeddings": self.max_position_embeddings,
            "type_vocab_size": 2,
        }

    def architecture_mismatch(self, config, tower="discriminator"):
        """None when `config` (a dict) has this tower's architecture, else "(found != expected)"."""
        expected = self.architecture(tower)
        found = {k: config.get(k) for k in expected}
        return None if found == expected else f"({found} != {expected})"

    def parameters(self, tower):
        """Number of parameters of that tower as a standalone model (shared embeddings counted)."""
        c, t = self.architecture(tower), getattr(self, tower)
        e, h, i, vocab = c["embedding_size"], t.hidden_size, t.intermediate_size, c["vocab_size"]
        embeddings = (vocab + c["max_position_embeddings"] + c["type_vocab_size"]) * e + 2 * e
        project = (e * h + h) if e != h else 0
        layer = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 2 * 2 * h
        head = (h * h + h) + (h + 1) if tower == "discriminator" else (h * e + e) + 2 * e + vocab
        return embeddings + project + t.num_hidden_layers * layer + head


# Chinese-ELECTRA architectures (D = discriminator, G = generator), shared by the 180g and legal versions.
_CHINESE = {
    "small": (128, Tower(256, 1024, 12, 4), Tower(64, 256, 12, 1)),
    "small-ex": (256, Tower(256, 1024, 24, 4), Tower(64, 256, 24, 1)),
    "base": (768, Tower(768, 3072, 12, 12), Tower(192, 768, 12, 3)),
    "large": (1024, Tower(1024, 4096, 24, 16), Tower(256, 1024, 24, 4)),
}
_KOREAN = {
    "small": (128, Tower(256, 1024, 12, 4), Tower(256, 1024, 12, 4)),
    "base": (768, Tower(768, 3072, 12, 12), Tower(256, 1024, 12, 4)),
}
_KOREAN_VOCAB = {"v1": 32200, "v2": 32200, "v3": 35000}


def _hfl_release(prefix, size, d):
    shape = f"L-{d.num_hidden_layers}_H-{d.hidden_size}_A-{d.num_attention_heads}"
    return f"{prefix}_{size.replace('-', '_')}_{shape}.zip"


def _build():
    models = []
    chinese_families = [
        ("chinese-electra", "chinese_electra", ("small", "small-ex", "base", "large")),
        ("chinese-electra-180g", "chinese_electra_180g", ("small", "small-ex", "base", "large")),
        ("chinese-legal-electra", "chinese_legal_electra", ("small", "base", "large")),
    ]
    for family, prefix, sizes in chinese_families:
        for size in sizes:
            e, d, g = _CHINESE[size]
            models.append(
                ZooModel(
                    f"{family}-{size}",
                    family,
                    e,
                    d,
                    g,
                    21128,
                    True,
                    _hfl_release(prefix, size, d),
                    hub=f"hfl/{family}-{size}",
                )
            )
    for version, vocab in _KOREAN_VOCAB.items():
        for size, (e, d, g) in _KOREAN.items():
            hub = f"monologg/koelectra-{size}{'' if version == 'v1' else '-' + version}"
            models.append(
                ZooModel(
                    f"koelectra-{size}-{version}",
                    "koelectra",
                    e,
                    d,
                    g,
                    vocab,
                    False,
                    f"{hub}-discriminator",
                    hub=hub,
                )
            )
    return {m.name: m for m in models}


MODELS = _build()


def get_model(name):
    """The zoo entry `name`; KeyError with the list of names if unknown."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(
            f"unknown model {name!r}: choose one of {', '.join(MODELS)} (see `paddle-electra zoo`)"
        ) from None


def register(entry):
    """Add `entry` (a ZooModel) to the zoo, e.g. a private model on a Hub mirror; returns it."""
    MODELS[entry.name] = entry
    return entry


def find_hf_hub_repo(repo_id):
    """(zoo entry, tower) whose Hub repo is `repo_id`, else (None, None)."""
    for entry in MODELS.values():
        for tower in ("discriminator", "generator"):
            if entry.hub and entry.hf_hub_repo(tower) == repo_id:
                return entry, tower
    return None, None
