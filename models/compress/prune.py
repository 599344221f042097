"""Magnitude pruning of lmgen's BERT and GAN generator: unstructured weights, heads, channels.

* **Unstructured**: the globally smallest |w| among the prunable weights are set to zero, using
  torch's ``nn.utils.prune.global_unstructured`` with the L1 criterion. The share is exact
  (``round(s · n)`` weights). The tensors stay dense, so a dense kernel does the same work.
  The report measures that rather than assuming a speed-up.
* **Structured**: whole attention heads, feed-forward neurons or convolution channels are
  *removed*, so the matrices really shrink. A unit's importance is the L2 norm of the weights
  that read from it and write to it. Heads are ranked across the whole model, and every layer
  keeps at least one. Neurons and channels are cut by the same share in every layer.

A pruned BERT can be fine-tuned briefly to recover: :func:`lmgen.models.compress.distill.train_mlm`
keeps torch's pruning masks, so zeros stay zero.

BERT's prunable weights are the transformer layers' linear maps (attention Q/K/V/output and both
feed-forward maps). The word embeddings, which the MLM decoder shares, are not pruned: they are
a lookup, not a matrix product, and zeroing rows of them deletes words.
"""

from __future__ import annotations

import copy
from typing import Any

from lmgen.errors import InputError

STRUCTURES = ("unstructured", "heads", "ffn", "channels")


def check_sparsity(sparsity: float) -> float:
    if not isinstance(sparsity, int | float) or not 0.0 <= float(sparsity) < 1.0:
        raise InputError(
            f"sparsity must be in [0, 1), not {sparsity}", hint="e.g. 0.5 prunes half the weights"
        )
    return float(sparsity)


def bert_prunable(model: Any) -> list[tuple[Any, str]]:
    """``(module, "weight")`` for every linear map inside BERT's transformer layers."""
    import torch

    return [(m, "weight") for m in model.bert.encoder.modules() if isinstance(m, torch.nn.Linear)]


def generator_prunable(generator: Any) -> list[tuple[Any, str]]:
    import torch

    kinds = (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    return [(m, "weight") for m in generator.modules() if isinstance(m, kinds)]


def sparsity_of(params: list[tuple[Any, str]]) -> dict[str, Any]:
    """Zeros among ``params`` (after masks): ``{"zeros", "total", "sparsity"}``."""
    zeros = total = 0
    for module, name in params:
        weight = getattr(module, name)
        zeros += int((weight == 0).sum())
        total += weight.numel()
    return {"zeros": zeros, "total": total, "sparsity": zeros / total if total else 0.0}


def prune_unstructured(
    model: Any, sparsity: float, params_of: Any = bert_prunable, keep_masks: bool = False
) -> Any:
    """A copy of ``model`` with the smallest ``sparsity`` share of prunable weights set to zero.

    With ``keep_masks`` the masks stay attached (``weight = weight_orig · weight_mask``) for a
    recovery fine-tune; call :func:`finalize` afterwards.
    """
    import torch.nn.utils.prune as torch_prune

    share = check_sparsity(sparsity)
    pruned = copy.deepcopy(model)
    params = params_of(pruned)
    if share > 0:
        torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=share)
        if not keep_masks:
            finalize(pruned, params_of)
    return pruned


def finalize(model: Any, params_of: Any = bert_prunable) -> Any:
    """Make pruning permanent: drop the masks, keep the zeros in plain weights."""
    import torch.nn.utils.prune as torch_prune

    for module, name in params_of(model):
        if torch_prune.is_pruned(module) and hasattr(module, f"{name}_mask"):
            torch_prune.remove(module, name)
    return model


def _keep(scores: Any, count: int) -> Any:
    """Indices of the ``count`` largest scores, in their original order."""
    import torch

    return torch.sort(torch.topk(scores, count).indices).values


def prune_heads(model: Any, share: float) -> Any:
    """A copy of a BERT with the ``share`` least important attention heads removed (≥ 1 kept per layer)."""
    import torch
    from transformers.pytorch_utils import prune_linear_layer

    check_sparsity(share)
    pruned = copy.deepcopy(model)
    layers = pruned.bert.encoder.layer
    head_size = layers[0].attention.self.attention_head_size
    scores = []  # (score, layer, head)
    for li, layer in enumerate(layers):
        att = layer.attention
        for h in range(att.self.num_attention_heads):
            rows = slice(h * head_size, (h + 1) * head_size)
            norm = sum(
                float(lin.weight[rows].detach().norm() ** 2)
                for lin in (att.self.query, att.self.key, att.self.value)
            )
            norm += float(att.output.dense.weight[:, rows].detach().norm() ** 2)
            scores.append((norm**0.5, li, h))
    total = len(scores)
    n_remove = min(round(share * total), total - len(layers))
    removed: dict[int, set[int]] = {}
    per_layer = {li: layer.attention.self.num_attention_heads for li, layer in enumerate(layers)}
    for _score, li, h in sorted(scores):
        if sum(len(v) for v in removed.values()) >= n_remove:
            break
        if per_layer[li] - len(removed.get(li, ())) > 1:
            removed.setdefault(li, set()).add(h)
    for li, heads in removed.items():
        att = layers[li].attention
        keep_heads = [h for h in range(att.self.num_attention_heads) if h not in heads]
        index: Any = torch.cat([torch.arange(h * head_size, (h + 1) * head_size) for h in keep_heads])
        att.self.query = prune_linear_layer(att.self.query, index)
        att.self.key = prune_linear_layer(att.self.key, index)
        att.self.value = prune_linear_layer(att.self.value, index)
        att.output.dense = prune_linear_layer(att.output.dense, index, dim=1)
        att.self.num_attention_heads = len(keep_heads)
        att.self.all_head_size = len(keep_heads) * head_size
    pruned.lmgen_heads_removed = {li: sorted(v) for li, v in removed.items()}
    return pruned


def prune_ffn(model: Any, share: float) -> Any:
    """A copy of a BERT with the ``share`` least important feed-forward neurons of each layer removed."""
    from transformers.pytorch_utils import prune_linear_layer

    check_sparsity(share)
    pruned = copy.deepcopy(model)
    for layer in pruned.bert.encoder.layer:
        up, down = layer.intermediate.dense, layer.output.dense
        width = up.out_features
        keep = max(1, width - round(share * width))
        scores = (up.weight.norm(dim=1) ** 2 + down.weight.norm(dim=0) ** 2).sqrt()
        index = _keep(scores.detach(), keep)
        layer.intermediate.dense = prune_linear_layer(up, index)
        layer.output.dense = prune_linear_layer(down, index, dim=1)
    return pruned


def prune_gan_channels(generator: Any, share: float) -> Any:
    """A copy of lmgen's GAN generator with ``share`` of the channels of each hidden feature map removed.

    The generator is ``fc → BN → ReLU → ConvT → BN → ReLU → ConvT → tanh``: the fc output's
    channel groups and the first transposed convolution's output channels are the two hidden maps.
    """
    import torch
    from torch import nn

    check_sparsity(share)
    g = copy.deepcopy(generator).eval()
    fc = g.fc[0]
    bn1, conv1, bn2, conv2 = g.net[0], g.net[2], g.net[3], g.net[5]
    side2 = g.side**2
    c1, c2 = conv1.in_channels, conv1.out_channels
    keep1 = max(1, c1 - round(share * c1))
    keep2 = max(1, c2 - round(share * c2))
    with torch.no_grad():
        # hidden map 1: the fc's rows come in groups of side² per channel
        fc_w = fc.weight.view(c1, side2, -1)
        s1 = (fc_w.flatten(1).norm(dim=1) ** 2 + conv1.weight.flatten(1).norm(dim=1) ** 2).sqrt()
        idx1 = _keep(s1 * bn1.weight.abs(), keep1)
        # hidden map 2: conv1's output channels (ConvTranspose weight is in × out × k × k)
        s2 = (
            conv1.weight.transpose(0, 1).flatten(1).norm(dim=1) ** 2
            + conv2.weight.flatten(1).norm(dim=1) ** 2
        )
        idx2 = _keep(s2.sqrt() * bn2.weight.abs(), keep2)

        new_fc = nn.Linear(fc.in_features, keep1 * side2, bias=fc.bias is not None)
        new_fc.weight.copy_(fc_w[idx1].reshape(keep1 * side2, -1))

        def shrink_bn(bn: nn.BatchNorm2d, idx: torch.Tensor) -> nn.BatchNorm2d:
            new = nn.BatchNorm2d(len(idx), eps=bn.eps, momentum=bn.momentum)
            for name in ("weight", "bias"):
                getattr(new, name).copy_(getattr(bn, name)[idx])
            for name in ("running_mean", "running_var"):
                getattr(new, name).copy_(getattr(bn, name)[idx])
            return new.eval()

        new_conv1 = nn.ConvTranspose2d(
            keep1, keep2, conv1.kernel_size, conv1.stride, conv1.padding, bias=conv1.bias is not None
        )
        new_conv1.weight.copy_(conv1.weight[idx1][:, idx2])
        new_conv2 = nn.ConvTranspose2d(
            keep2,
            conv2.out_channels,
            conv2.kernel_size,
            conv2.stride,
            conv2.padding,
            bias=conv2.bias is not None,
        )
        new_conv2.weight.copy_(conv2.weight[idx2])
        if conv2.bias is not None and new_conv2.bias is not None:
            new_conv2.bias.copy_(conv2.bias)
        g.fc[0] = new_fc
        g.net[0], g.net[2], g.net[3], g.net[5] = (
            shrink_bn(bn1, idx1),
            new_conv1,
            shrink_bn(bn2, idx2),
            new_conv2,
        )
    return g


def recover_gan(
    gan: Any,
    generator: Any,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 1e-4,
    seed: int = 0,
    dataset: str = "mnist",
    progress: bool = True,
) -> Any:
    """A short adversarial fine-tune of a pruned ``generator`` against (a copy of) the GAN's own
    discriminator, on the training images. ``generator`` (a pruned copy) is tuned in place and
    returned; the GAN is untouched.

    Torch's pruning masks, if still attached, keep pruned weights at zero; they are made permanent
    at the end.
    """
    import numpy as np
    import torch
    from tqdm import tqdm

    from lmgen.models.images.train import _optimizers, _step  # the GAN's own training step
    from lmgen.stores.images import load_dataset

    if steps < 1:
        raise InputError("a recovery fine-tune needs at least one step")
    tuned = copy.deepcopy(gan)
    tuned.generator = generator
    images = torch.from_numpy(load_dataset(dataset, "train").images)
    labels = torch.zeros(len(images), dtype=torch.long)
    optimizers = _optimizers("gan", tuned, lr)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    tuned.train()
    for _ in tqdm(range(steps), desc="recover gan", unit=" step", disable=not progress):
        idx = torch.from_numpy(rng.integers(0, len(images), batch_size))
        _step("gan", tuned, optimizers, images[idx], labels[idx])
    tuned.eval()
    return finalize(tuned.generator, generator_prunable)
