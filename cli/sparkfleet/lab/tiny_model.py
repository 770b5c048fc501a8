"""A tiny, random-weight Qwen3-VL that a real vLLM can load and serve on a CPU (see LAB.md).

The weights are noise, so the answers are nonsense; what is real is everything around them: the
architecture (Qwen3-VL with deepstack and interleaved M-RoPE), a byte-level BPE tokenizer with the
Qwen special tokens, the chat template and the image and video processors. That is enough for the
lab to exercise the whole serving path (video upload, frame sampling, vision encoder, prompt
expansion, generation, metrics) in seconds and a few megabytes, with no hub access.

The build is deterministic: one seed gives the same bytes in every file (checked by the tests).
torch, transformers and tokenizers are imported inside the functions only: the CLI imports this
module and must start fast.

    python -m sparkfleet.lab.tiny_model TARGET [--seed N]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path

TINY_MODEL_NAME = "qwen3-vl-tiny"

VOCAB_SIZE = 2048

# What a build writes (and reports); other files already in the target are left alone and not reported.
MODEL_FILES = (
    "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
    "chat_template.jinja", "preprocessor_config.json", "video_preprocessor_config.json", "processor_config.json",
)
TEXT_HIDDEN = 128
VISION_HIDDEN = 64

# The Qwen2/Qwen3 added tokens, in Qwen's order; they take the last ids of the vocabulary as in Qwen.
# (token, special): the tool and think markers are plain added tokens in Qwen, not special ones.
ADDED_TOKENS: tuple[tuple[str, bool], ...] = (
    ("<|endoftext|>", True),
    ("<|im_start|>", True),
    ("<|im_end|>", True),
    ("<|object_ref_start|>", True),
    ("<|object_ref_end|>", True),
    ("<|box_start|>", True),
    ("<|box_end|>", True),
    ("<|quad_start|>", True),
    ("<|quad_end|>", True),
    ("<|vision_start|>", True),
    ("<|vision_end|>", True),
    ("<|vision_pad|>", True),
    ("<|image_pad|>", True),
    ("<|video_pad|>", True),
    ("<tool_call>", False),
    ("</tool_call>", False),
    ("<think>", False),
    ("</think>", False),
)

# Qwen2's pre-tokenizer split (the same as transformers' Qwen2Tokenizer), so loading the tokenizer
# through Qwen2Tokenizer or straight from tokenizer.json gives the same tokens.
PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# Qwen-style ChatML. Content is a string or a list of parts; image parts (type image / image_url)
# become <|vision_start|><|image_pad|><|vision_end|>, video parts (type video / video_url) become
# <|vision_start|><|video_pad|><|vision_end|>; the processor later expands each pad to the item's
# tokens. The loop over message content is what vLLM looks for to pass OpenAI-style parts.
CHAT_TEMPLATE = """\
{%- set image_count = namespace(value=0) -%}
{%- set video_count = namespace(value=0) -%}
{%- macro render_content(content) -%}
{%- if content is string -%}
{{- content -}}
{%- elif content is not none -%}
{%- for part in content -%}
{%- if part.type == 'image' or part.type == 'image_url' or 'image' in part or 'image_url' in part -%}
{%- set image_count.value = image_count.value + 1 -%}
{%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}
<|vision_start|><|image_pad|><|vision_end|>
{%- elif part.type == 'video' or part.type == 'video_url' or 'video' in part or 'video_url' in part -%}
{%- set video_count.value = video_count.value + 1 -%}
{%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}
<|vision_start|><|video_pad|><|vision_end|>
{%- elif 'text' in part -%}
{{- part.text -}}
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{%- endmacro -%}
{%- for message in messages -%}
{%- if message.role == 'tool' -%}
{%- if loop.first or messages[loop.index0 - 1].role != 'tool' -%}
{{- '<|im_start|>user' -}}
{%- endif -%}
{{- '\\n<tool_response>\\n' -}}{{- render_content(message.content) -}}{{- '\\n</tool_response>' -}}
{%- if loop.last or messages[loop.index0 + 1].role != 'tool' -%}
{{- '<|im_end|>\\n' -}}
{%- endif -%}
{%- else -%}
{{- '<|im_start|>' + message.role + '\\n' -}}{{- render_content(message.content) -}}
{%- if message.tool_calls -%}
{%- for tool_call in message.tool_calls -%}
{%- set call = tool_call.function if tool_call.function else tool_call -%}
{{- '\\n<tool_call>\\n{"name": "' + call.name + '", "arguments": ' -}}
{{- call.arguments if call.arguments is string else call.arguments | tojson -}}
{{- '}\\n</tool_call>' -}}
{%- endfor -%}
{%- endif -%}
{{- '<|im_end|>\\n' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}
{{- '<|im_start|>assistant\\n' -}}
{%- endif -%}
"""

# Small pixel budgets keep the vision work tiny: an image is at most 256x256 pixels (64 tokens after
# the 2x2 merge of 16-pixel patches); a video at most 8 frames of 128x128 in all (64 tokens).
FACTOR = 32  # patch 16 x spatial merge 2
IMAGE_SIZE = {"shortest_edge": 4 * FACTOR * FACTOR, "longest_edge": 256 * 256}
VIDEO_SIZE = {"shortest_edge": 2 * 4 * FACTOR * FACTOR, "longest_edge": 8 * 128 * 128}
MEAN_STD = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}

# What the image and the video processor share.
_PIXELS = {
    "processor_class": "Qwen3VLProcessor",
    "do_resize": True,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "do_convert_rgb": True,
    **MEAN_STD,
}

PREPROCESSOR_CONFIG = {
    "image_processor_type": "Qwen2VLImageProcessor",
    **_PIXELS,
    "size": IMAGE_SIZE,
    "patch_size": 16,
    "temporal_patch_size": 2,
    "merge_size": 2,
}

VIDEO_PREPROCESSOR_CONFIG = {
    "video_processor_type": "Qwen3VLVideoProcessor",
    **_PIXELS,
    "size": VIDEO_SIZE,
    "patch_size": 16,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "do_sample_frames": True,
    "fps": 2,
    "min_frames": 2,
    "max_frames": 8,
    # Keep today's (uncapped) sizing explicitly: it silences transformers' warning and is what vLLM
    # assumes when it sizes the prompt before the processor runs.
    "cap_pixels_per_frame": False,
}


def model_config_dict(token_ids: dict[str, int]) -> dict:
    """The Qwen3VLConfig arguments, as LAB.md gives them."""
    return {
        "text_config": {
            "vocab_size": VOCAB_SIZE,
            "hidden_size": TEXT_HIDDEN,
            "intermediate_size": 256,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 32,
            "hidden_act": "silu",
            "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 5_000_000.0,
                "mrope_section": [6, 5, 5],  # sums to head_dim / 2
                "mrope_interleaved": True,
            },
            "bos_token_id": token_ids["<|endoftext|>"],
            "eos_token_id": token_ids["<|im_end|>"],
            "pad_token_id": token_ids["<|endoftext|>"],
            "dtype": "bfloat16",
        },
        "vision_config": {
            "depth": 2,
            "hidden_size": VISION_HIDDEN,
            "intermediate_size": 128,
            "num_heads": 2,  # head size 32, which every attention backend supports
            "in_channels": 3,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": TEXT_HIDDEN,
            "num_position_embeddings": 576,  # a 24 x 24 grid, interpolated to each input
            "deepstack_visual_indexes": [1],
        },
        "image_token_id": token_ids["<|image_pad|>"],
        "video_token_id": token_ids["<|video_pad|>"],
        "vision_start_token_id": token_ids["<|vision_start|>"],
        "vision_end_token_id": token_ids["<|vision_end|>"],
        "tie_word_embeddings": False,
        "dtype": "bfloat16",
    }


# -- the tokenizer ---------------------------------------------------------------------------------

_WORD_TEXT = """
the of and to in is that it was for on are as with his they at be this from have or by one had not
but what all were when we there can an your which their said if do will each about how up out them
then she many some so these would other into has more her two like him see time could no make than
first been its who now people my made over did down only way find use may water long little very
after words called just where most know get through back much before go good new write our used me
man too any day same right look think also around another came come work three word must because
does part even place well such here take why things help put years different away again off went
old number great tell men say small every found still between name should home big give air line
set own under read last never us left end along while might next sound below saw something thought
both few those always looked show large often together asked house world going want school important
until form food keep children feet land side without boy once animals life enough took sometimes four
head above kind began almost live page got earth need far hand high year mother light parts country
father let night following picture being study second eyes soon times story boys since white days
ever paper hard near sentence better best across during today others however sure means knew try told
young miles sun ways thing whole hear example heard several change answer room sea against top turned
learn point city play toward five using himself usually money seen car morning given body family
later order color river video frame camera model server request token image second minute stream
quickly slowly carefully brightly quietly loudly softly gently red green blue yellow black orange
purple bright dark warm cold fast slow tall short happy quiet busy empty full open closed round square
"""

_SYLLABLE_TEXT = """
ka lo mi ra ne to su vi da pe fo gu hi ja ke li mo nu po qu re sa ti vo wa xe ya zo ba ce di fe gi
ho ju ko la me ni ou pa qi ro se tu va we xi yo za an er in on un al el il ol ul ar or ur ir as es
"""


def _training_text(lines: int = 12000) -> list[str]:
    """English-like sentences, numbers and a little code, generated here: no download."""
    rng = random.Random(20250101)  # fixed: the tokenizer does not depend on the weight seed
    common, syllables = _WORD_TEXT.split(), _SYLLABLE_TEXT.split()
    made_up = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(3000)})
    words = common + made_up
    out = []
    for i in range(lines):
        kind = i % 10
        if kind == 7:
            n = rng.randint(0, 99999)
            out.append(f"Request {n} took {rng.randint(1, 999)}.{rng.randint(0, 9)} ms at {rng.randint(1, 60)} fps.")
        elif kind == 9:
            name = rng.choice(made_up)
            out.append(f"def {name}(x, y):\n    return x * {rng.randint(2, 9)} + y  # {rng.choice(common)}")
        else:
            sentence = [rng.choice(words) for _ in range(rng.randint(4, 14))]
            sentence[0] = sentence[0].capitalize()
            out.append(" ".join(sentence) + rng.choice([".", ".", ".", "?", "!", ",", ";"]))
    return out


def build_tokenizer():
    """A byte-level BPE (VOCAB_SIZE ids in all) with the Qwen added tokens at the end of the vocabulary."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizers.trainers import BpeTrainer

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = BpeTrainer(
        vocab_size=VOCAB_SIZE - len(ADDED_TOKENS),
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(_training_text(), trainer=trainer)
    learned = tok.get_vocab_size()
    if learned != VOCAB_SIZE - len(ADDED_TOKENS):
        raise RuntimeError(f"the BPE learned {learned} tokens, not {VOCAB_SIZE - len(ADDED_TOKENS)}: "
                           "the training text is too small")
    for text, special in ADDED_TOKENS:
        token = AddedToken(text, special=special, normalized=False, single_word=False, lstrip=False, rstrip=False)
        if special:
            tok.add_special_tokens([token])
        else:
            tok.add_tokens([token])
    return tok


def tokenizer_config(token_ids: dict[str, int]) -> dict:
    return {
        "tokenizer_class": "Qwen2Tokenizer",
        "processor_class": "Qwen3VLProcessor",
        "add_bos_token": False,
        "add_prefix_space": False,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "errors": "replace",
        "clean_up_tokenization_spaces": False,
        "split_special_tokens": False,
        "model_max_length": 4096,
        "added_tokens_decoder": {
            str(token_ids[text]): {
                "content": text, "lstrip": False, "normalized": False, "rstrip": False,
                "single_word": False, "special": special,
            }
            for text, special in ADDED_TOKENS
        },
    }


# -- the heavy imports ----------------------------------------------------------------------------

@contextlib.contextmanager
def _builtin_sys_intern():
    """Give torch the builtin sys.intern while it loads, then put back whatever was there.

    ansible-core (imported by the CLI and by other tests in the same process) replaces sys.intern
    with a callable object that accepts str subclasses; importing torch._dynamo then fails with
    "substitute_in_graph expects a function but got SysInternPatch", because dynamo registers a
    stand-in for sys.intern at import. The patch keeps the builtin in `unpatched_implementation`.
    """
    current = sys.intern
    builtin = getattr(current, "unpatched_implementation", None)
    if builtin is None or builtin is current:
        yield
        return
    sys.intern = builtin
    try:
        yield
    finally:
        sys.intern = current


def _import_torch_stack() -> None:
    """Import torch (with dynamo) and the Qwen3-VL classes once, safely beside ansible."""
    with _builtin_sys_intern():
        import torch
        import torch._dynamo
        import transformers.models.qwen3_vl.modeling_qwen3_vl  # noqa: F401
        del torch


# -- the weights -----------------------------------------------------------------------------------

def _random_state_dict(config, seed: int) -> dict:
    """One tensor per checkpoint name, drawn from a generator seeded by `seed`, in name order.

    The model is built on the meta device (no memory, no initialisation) only to learn the names
    and shapes, so the values do not depend on transformers' init code or on thread counts.
    Norm weights are 1, biases 0, everything else N(0, 0.02), as a freshly initialised model.
    """
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    with torch.device("meta"):
        model = Qwen3VLForConditionalGeneration(config)
    shapes = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for name in sorted(shapes):
        shape = shapes[name]
        if name.endswith(".bias"):
            t = torch.zeros(shape)
        elif "norm" in name and name.endswith(".weight") and len(shape) == 1:
            t = torch.ones(shape)
        else:
            t = torch.randn(shape, generator=gen) * 0.02
        tensors[name] = t.to(torch.bfloat16).contiguous()
    return tensors


# -- the build -------------------------------------------------------------------------------------

def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def describe(target: Path, names: tuple[str, ...] | None = None) -> dict[str, dict]:
    """{relpath: {"size", "sha256"}} for `names` (default: every file under `target`), sorted."""
    target = Path(target)
    paths = [target / n for n in names] if names is not None else [p for p in target.rglob("*") if p.is_file()]
    return {
        p.relative_to(target).as_posix(): {"size": p.stat().st_size, "sha256": _digest(p)}
        for p in sorted(paths)
    }


def build_tiny_qwen3_vl(target: Path, seed: int = 0) -> dict:
    """Write the tiny Qwen3-VL into `target` (created; files already there are overwritten).

    Writes MODEL_FILES (weights in bf16 in model.safetensors); other files in `target` stay.
    Returns {"path", "files": {relpath: {"size", "sha256"}}, "parameters", "seconds"}.
    """
    started = time.monotonic()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    _import_torch_stack()
    from safetensors.torch import save_file
    from transformers import Qwen3VLConfig
    from transformers import __version__ as transformers_version

    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)

    tok = build_tokenizer()
    token_ids = {text: tok.token_to_id(text) for text, _ in ADDED_TOKENS}
    tok.save(str(target / "tokenizer.json"), pretty=False)
    _write_json(target / "tokenizer_config.json", tokenizer_config(token_ids))
    (target / "chat_template.jinja").write_text(CHAT_TEMPLATE)

    _write_json(target / "preprocessor_config.json", PREPROCESSOR_CONFIG)
    _write_json(target / "video_preprocessor_config.json", VIDEO_PREPROCESSOR_CONFIG)
    _write_json(target / "processor_config.json", {"processor_class": "Qwen3VLProcessor"})

    config = Qwen3VLConfig(**model_config_dict(token_ids))
    config.architectures = ["Qwen3VLForConditionalGeneration"]
    tensors = _random_state_dict(config, seed)
    save_file(tensors, str(target / "model.safetensors"), metadata={"format": "pt"})
    (target / "model.safetensors").chmod(0o644)  # safetensors writes 0600; a server may run as another user
    config.to_json_file(target / "config.json", use_diff=True)
    _write_json(target / "generation_config.json", {
        "bos_token_id": token_ids["<|endoftext|>"],
        "eos_token_id": [token_ids["<|im_end|>"], token_ids["<|endoftext|>"]],
        "pad_token_id": token_ids["<|endoftext|>"],
        "transformers_version": transformers_version,
    })

    return {
        "path": str(target),
        "files": describe(target, MODEL_FILES),
        "parameters": sum(t.numel() for t in tensors.values()),
        "seconds": round(time.monotonic() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sparkfleet.lab.tiny_model",
                                     description="Build the tiny random-weight Qwen3-VL (" + TINY_MODEL_NAME + ").")
    parser.add_argument("target", type=Path, help="folder to write the model into")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    json.dump(build_tiny_qwen3_vl(args.target, seed=args.seed), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
