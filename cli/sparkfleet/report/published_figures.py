"""Published DGX Spark figures a bench on a real Spark can be set beside (from shared SPARK_FACTS.md).

Each figure names its public source. They come from other people's setups (other models, precisions,
numbers of Sparks, vLLM builds): the report shows them as a point of reference, never as a pass mark.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    model: str  # as the source names it
    family: str  # "qwen3-vl", "qwen3", "llama-3.1": used to find the figure closest to a served model
    params_b: float  # total parameters, billions
    precision: str
    sparks: int  # how many DGX Sparks served it
    output_tok_s: float
    ttft_ms: float | None
    tpot_ms: float | None
    source: str
    setup: str  # how it was served, in the source's words as far as it gives them

    @property
    def label(self) -> str:
        return f"{self.model} {self.precision.upper()}"


FIGURES: tuple[Figure, ...] = (
    Figure(model="Qwen3-VL-32B", family="qwen3-vl", params_b=32, precision="fp8", sparks=4, output_tok_s=19.15,
           ttft_ms=83.9, tpot_ms=51.95, source="NVIDIA developer forum, thread 354399",
           setup="4 Sparks, tensor parallel 4"),
    Figure(model="Qwen3-8B", family="qwen3", params_b=8, precision="bf16", sparks=1, output_tok_s=13.1,
           ttft_ms=None, tpot_ms=None, source="lyb.re, 2026-03-10", setup="1 Spark"),
    Figure(model="Qwen3-32B", family="qwen3", params_b=32, precision="bf16", sparks=1, output_tok_s=3.7,
           ttft_ms=None, tpot_ms=None, source="lyb.re, 2026-03-10", setup="1 Spark"),
    Figure(model="Llama-3.1-8B", family="llama-3.1", params_b=8, precision="fp8", sparks=1, output_tok_s=20.5,
           ttft_ms=None, tpot_ms=None, source="NVIDIA blog", setup="1 Spark"),
)

_SIZE = re.compile(r"(\d+(?:\.\d+)?)b(?:-a\d+b)?", re.IGNORECASE)


def model_size_b(name: str | None) -> float | None:
    """Total parameters in billions from a model name: qwen3-vl-30b-a3b-instruct-fp8 -> 30."""
    if not name:
        return None
    match = _SIZE.search(name.lower().replace("_", "-"))
    return float(match.group(1)) if match else None


def closest(model: str | None) -> Figure | None:
    """The published figure nearest to a served model: same family first, then nearest size, then precision."""
    if not model:
        return None
    name = model.lower()
    size = model_size_b(name)
    family = "qwen3-vl" if "qwen3-vl" in name else "qwen3" if "qwen3" in name else "llama-3.1" if "llama" in name \
        else None
    precision = "fp8" if "fp8" in name else "bf16"

    def distance(figure: Figure) -> tuple:
        return (figure.family != family,
                abs(figure.params_b - size) if size is not None else 0,
                figure.precision != precision, figure.sparks)

    best = min(FIGURES, key=distance)
    if best.family != family and (size is None or best.params_b != size):
        return None  # nothing alike enough to point at
    return best
