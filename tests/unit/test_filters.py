from ansible_collections.sparkfleet.spark.plugins.filter.vllm import systemd_command, vllm_args


def test_settings_become_vllm_flags_in_order():
    args = vllm_args({
        "served_model_name": "qwen", "max_model_len": 2048, "enforce_eager": True, "trust_request_mm_kwargs": False,
        "gpu_memory_utilization": 0.8, "limit_mm_per_prompt": {"video": 1, "image": 1}, "allowed_local_media_path": "",
        "quantization": None,
    })
    assert args == ["--served-model-name", "qwen", "--max-model-len", "2048", "--enforce-eager",
                    "--gpu-memory-utilization", "0.8", "--limit-mm-per-prompt", '{"image":1,"video":1}']


def test_exec_start_quoting_survives_json_percent_and_dollar():
    line = systemd_command(["/opt/v/bin/vllm", "serve", "/models/m", "--limit-mm-per-prompt", '{"video":1}',
                            "--x", "50%", "--y", "$HOME"])
    assert line == "/opt/v/bin/vllm serve /models/m --limit-mm-per-prompt '{\"video\":1}' --x 50%% --y '$$HOME'"

