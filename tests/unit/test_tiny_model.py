"""The tiny Qwen3-VL: the files LAB.md describes, the same bytes for the same seed, and it really runs.

Needs torch, transformers, tokenizers and safetensors (the lab's model builder dependencies); the
module is skipped without them. The processor test also needs torchvision (as vLLM has it).
The model is built once per module (about 4 s); the whole file takes about 15 s.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from helpers import loaded_in_a_fresh_interpreter

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
pytest.importorskip("safetensors")

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sparkfleet.lab.tiny_model import (
    TINY_MODEL_NAME,
    VOCAB_SIZE,
    build_tiny_qwen3_vl,
    describe,
)

BUILT_BESIDE_ANSIBLE: dict[str, bool] = {}  # whether the module's build ran with ansible's sys.intern in place
EXPECTED_FILES = {
    "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
    "chat_template.jinja", "preprocessor_config.json", "video_preprocessor_config.json", "processor_config.json",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The model, built once in this process, after ansible-core has patched sys.intern (as the CLI's process
    has it) when torch's dynamo is not loaded yet: the build's first import of it is the one that must cope."""
    target = tmp_path_factory.mktemp("tiny") / TINY_MODEL_NAME
    patched = None
    if "torch._dynamo" not in sys.modules and importlib.util.find_spec("ansible") is not None:
        import ansible.module_utils._internal._datatag  # noqa: F401  (replaces sys.intern)
        patched = sys.intern
    result = build_tiny_qwen3_vl(target, seed=0)
    BUILT_BESIDE_ANSIBLE["patched"] = patched is not None and sys.intern is patched
    return result


@pytest.fixture(scope="module")
def model_dir(built):
    from pathlib import Path
    return Path(built["path"])


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def model(model_dir):
    from transformers import AutoModelForImageTextToText
    loaded, info = AutoModelForImageTextToText.from_pretrained(model_dir, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    return loaded.eval()


def _json(model_dir, name):
    return json.loads((model_dir / name).read_text())


def test_the_build_reports_every_file_with_its_digest(built, model_dir):
    assert set(built["files"]) == EXPECTED_FILES
    assert built["files"] == describe(model_dir)
    for rel, entry in built["files"].items():
        assert entry["size"] > 0 and len(entry["sha256"]) == 64
        assert (model_dir / rel).stat().st_mode & 0o044 == 0o044, rel  # readable by a server running as anyone
    total = sum(entry["size"] for entry in built["files"].values())
    assert total < 4 * 1024 * 1024  # a few megabytes
    assert 500_000 < built["parameters"] < 3_000_000
    assert built["seconds"] > 0


def test_config_is_the_one_lab_md_gives(model_dir):
    config = _json(model_dir, "config.json")
    assert config["model_type"] == "qwen3_vl"
    assert config["architectures"] == ["Qwen3VLForConditionalGeneration"]
    text, vision = config["text_config"], config["vision_config"]
    assert (text["hidden_size"], text["num_hidden_layers"], text["num_attention_heads"],
            text["num_key_value_heads"], text["head_dim"], text["vocab_size"]) == (128, 2, 4, 2, 32, VOCAB_SIZE)
    rope = text["rope_parameters"]
    assert rope["mrope_section"] == [6, 5, 5] and rope["mrope_interleaved"] is True
    assert sum(rope["mrope_section"]) == text["head_dim"] // 2
    assert (vision["depth"], vision["hidden_size"], vision["patch_size"], vision["spatial_merge_size"],
            vision["deepstack_visual_indexes"], vision["out_hidden_size"]) == (2, 64, 16, 2, [1], 128)
    assert config.get("dtype", text.get("dtype")) == "bfloat16"


def test_weights_are_bf16(model_dir):
    from safetensors import safe_open
    with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
        dtypes = {str(f.get_slice(name).get_dtype()) for name in f.keys()}  # noqa: SIM118
    assert dtypes == {"BF16"}


def test_token_ids_in_the_config_match_the_tokenizer(model_dir, tokenizer):
    config = _json(model_dir, "config.json")
    ids = tokenizer.convert_tokens_to_ids
    assert config["image_token_id"] == ids("<|image_pad|>")
    assert config["video_token_id"] == ids("<|video_pad|>")
    assert config["vision_start_token_id"] == ids("<|vision_start|>")
    assert config["vision_end_token_id"] == ids("<|vision_end|>")
    assert len(tokenizer) == VOCAB_SIZE
    assert tokenizer.eos_token == "<|im_end|>"
    for special in ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|video_pad|>", "<|image_pad|>"):
        assert tokenizer.tokenize(f"a{special}b")[1] == special  # one token, never split
    text = "The camera saw 3 red cars, quickly!\nNew line."
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text  # byte-level: round trips
    assert len(tokenizer(text)["input_ids"]) < len(text)  # and it did learn merges


def test_processor_configs_sample_2_fps_between_2_and_8_frames(model_dir):
    video = _json(model_dir, "video_preprocessor_config.json")
    image = _json(model_dir, "preprocessor_config.json")
    assert video["video_processor_type"] == "Qwen3VLVideoProcessor"
    assert image["image_processor_type"] == "Qwen2VLImageProcessor"
    assert (video["fps"], video["min_frames"], video["max_frames"], video["do_sample_frames"]) == (2, 2, 8, True)
    for cfg in (image, video):
        assert cfg["processor_class"] == "Qwen3VLProcessor"
        assert (cfg["patch_size"], cfg["merge_size"], cfg["temporal_patch_size"]) == (16, 2, 2)
        assert cfg["size"]["longest_edge"] <= 8 * 128 * 128  # small: at most 64 vision tokens


def test_chat_template_emits_vision_pads_and_the_generation_prompt(tokenizer):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [
            {"type": "video", "video": "clip.mp4"},
            {"type": "image_url", "image_url": {"url": "file:///x.png"}},
            {"type": "text", "text": "What happens?"},
        ]},
    ]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>"
        "<|vision_start|><|image_pad|><|vision_end|>What happens?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert not tokenizer.apply_chat_template(messages, tokenize=False).endswith("assistant\n")
    video_url = [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AA"}}]}]
    assert "<|vision_start|><|video_pad|><|vision_end|>" in tokenizer.apply_chat_template(video_url, tokenize=False)


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_weights(built, tmp_path, capsys):
    from sparkfleet.lab import tiny_model
    assert tiny_model.main([str(tmp_path / "again"), "--seed", "0"]) == 0  # python -m sparkfleet.lab.tiny_model
    again = json.loads(capsys.readouterr().out)
    assert again["path"] == str(tmp_path / "again")
    assert again["files"] == built["files"]
    other = build_tiny_qwen3_vl(tmp_path / "other", seed=1)
    assert other["files"]["model.safetensors"]["sha256"] != built["files"]["model.safetensors"]["sha256"]
    assert other["files"]["tokenizer.json"] == built["files"]["tokenizer.json"]


def test_it_generates_text(model, tokenizer):
    import torch
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "Hello there"}], add_generation_prompt=True,
                                           return_dict=True, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 6
    assert isinstance(tokenizer.decode(out[0]), str)


@pytest.mark.parametrize("modality", ["image", "video"])
def test_the_vision_tower_runs_on_an_image_and_a_video(model, tokenizer, modality):
    import torch
    pad = f"<|{modality}_pad|>"
    grid = torch.tensor([[1, 4, 4]])  # 1 temporal group, 4 x 4 patches -> 4 tokens after the 2 x 2 merge
    text = f"<|im_start|>user\n<|vision_start|>{pad * 4}<|vision_end|>What?<|im_end|>\n<|im_start|>assistant\n"
    inputs = tokenizer(text, return_tensors="pt")
    pixels = torch.randn(16, 3 * 2 * 16 * 16, generator=torch.Generator().manual_seed(0))
    kind = 1 if modality == "image" else 2
    mm_types = (inputs["input_ids"] == tokenizer.convert_tokens_to_ids(pad)).long() * kind
    extra = ({"pixel_values": pixels, "image_grid_thw": grid} if modality == "image"
             else {"pixel_values_videos": pixels, "video_grid_thw": grid})
    with torch.no_grad():
        out = model(**inputs, **extra, mm_token_type_ids=mm_types)
    assert out.logits.shape == (1, inputs["input_ids"].shape[1], VOCAB_SIZE)
    assert torch.isfinite(out.logits).all()


def test_auto_processor_expands_a_video_into_timed_frame_tokens(model_dir):
    pytest.importorskip("torchvision")  # transformers' Qwen3-VL video processor needs it, as on the vLLM host
    import numpy as np
    from transformers import AutoProcessor
    from transformers.video_utils import VideoMetadata

    processor = AutoProcessor.from_pretrained(model_dir)
    assert type(processor).__name__ == "Qwen3VLProcessor"
    assert type(processor.video_processor).__name__ == "Qwen3VLVideoProcessor"
    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What?"}]}],
        tokenize=False, add_generation_prompt=True)
    assert "<|vision_start|><|video_pad|><|vision_end|>" in prompt
    frames = np.zeros((30, 120, 160, 3), dtype=np.uint8)  # 3 s at 10 fps -> 6 frames sampled at 2 fps
    meta = VideoMetadata(total_num_frames=30, fps=10, width=160, height=120, duration=3.0)
    out = processor(text=[prompt], videos=[frames], video_metadata=[meta], return_tensors="pt")
    assert out["video_grid_thw"].tolist() == [[3, 8, 10]]
    decoded = processor.tokenizer.decode(out["input_ids"][0])
    assert decoded.count("<|video_pad|>") == 3 * 8 * 10 // 4
    assert "seconds>" in decoded



def test_the_tokenizer_splits_text_as_qwen2_does():
    from sparkfleet.lab.tiny_model import PRETOKENIZE_REGEX
    from transformers.models.qwen2 import tokenization_qwen2
    assert tokenization_qwen2.PRETOKENIZE_REGEX == PRETOKENIZE_REGEX


def test_importing_the_module_loads_no_torch():
    heavy = {"torch", "transformers", "tokenizers", "safetensors"}
    assert loaded_in_a_fresh_interpreter("import sparkfleet.lab.tiny_model, sparkfleet.lab.test_media", heavy) == set()


def test_it_builds_in_a_process_where_ansible_patched_sys_intern(built, tmp_path):
    pytest.importorskip("ansible")
    if BUILT_BESIDE_ANSIBLE.get("patched"):
        return  # the module's build was that process: it loaded dynamo beside the patch and left the patch there
    # dynamo was loaded before this module (another test), so only a fresh process shows it (about 6 s more)
    code = ("import sys, ansible.module_utils._internal._datatag; "
            "from sparkfleet.lab.tiny_model import build_tiny_qwen3_vl; patched = sys.intern; "
            f"build_tiny_qwen3_vl({str(tmp_path / 'm')!r}); "
            "assert sys.intern is patched")
    subprocess.run([sys.executable, "-c", code], check=True)
