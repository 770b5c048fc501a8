"""Lets PyPI's torchvision import beside the CPU build of torch that vLLM's CPU build needs (lab profile only).

PyPI's torchvision for x86_64 is linked against CUDA torch. Beside the CPU torch its C++ operators cannot load,
and its import then fails with "operator torchvision::nms does not exist" while it registers fake kernels for
operators whose schemas that library would have declared. Declaring those schemas first lets it import; vLLM and
transformers only use its Python image functions. Installed by sparkfleet's vllm role with a .pth file, and
lazy: nothing happens until something imports torchvision.
"""

import contextlib
import importlib.abc
import sys

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)


class _DeclareTorchvisionOps(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torchvision":
            return None
        sys.meta_path.remove(self)  # once is enough
        import torch

        library = torch.library.Library("torchvision", "FRAGMENT")
        for schema in _SCHEMAS:
            with contextlib.suppress(RuntimeError):  # already declared by a working torchvision build
                library.define(schema)
        _keep.append(library)
        return None  # let the normal finders import torchvision


_keep: list = []
sys.meta_path.insert(0, _DeclareTorchvisionOps())
