"""What every training run shares: the device it runs on, and saving and restoring what a resumed
run needs without pickle — optimizer moments and RNG states go to safetensors (tensors) and JSON
(hyper-parameters, step, history)."""

from __future__ import annotations

from typing import Any

from lmgen.errors import InputError


def pick_device(device: str = "auto") -> str:
    """``auto`` is CUDA when torch sees a GPU, else the CPU; asking for CUDA without one is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but torch sees no CUDA GPU")
    return device


def optimizer_tensors(optimizer: Any, prefix: str = "optimizer") -> tuple[dict[str, Any], list[Any]]:
    """``({"<prefix>.<param index>.<moment>": tensor}, param_groups)`` of a torch optimizer."""
    import torch

    state = optimizer.state_dict()
    tensors = {
        f"{prefix}.{index}.{key}": torch.as_tensor(value).detach().cpu().contiguous()
        for index, moments in state["state"].items()
        for key, value in moments.items()
    }
    return tensors, state["param_groups"]


def load_optimizer(
    optimizer: Any, tensors: dict[str, Any], groups: list[Any], prefix: str = "optimizer"
) -> None:
    """Restore what :func:`optimizer_tensors` saved."""
    moments: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            _, index, name = key.split(".", 2)
            moments.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": moments, "param_groups": groups})


def rng_tensors() -> dict[str, Any]:
    import torch

    out = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        out["rng.cuda"] = torch.cuda.get_rng_state()
    return out


def restore_rng(tensors: dict[str, Any]) -> None:
    import torch

    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
