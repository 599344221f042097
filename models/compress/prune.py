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

    The generator is ``fc → BN → ReLU → [conv → BN → ReLU]* → ConvT → BN → ReLU → [conv → BN →
    ReLU]* → ConvT → tanh`` (the bracketed 3×3 blocks when ``blocks`` > 0). Every batch-normed map is
    hidden: the fc output's channel groups, then each convolution's output but the last. A channel
    is scored by the norms of the weights that write it and read it, times its |BN scale|.
    """
    import torch
    from torch import nn

    check_sparsity(share)
    net = getattr(generator, "net", None)
    layers: list[Any] = list(net) if isinstance(net, nn.Sequential) and hasattr(generator, "fc") else []
    convs = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    norms = [i for i, m in enumerate(layers) if isinstance(m, nn.BatchNorm2d)]
    if len(norms) != len(convs) or len(convs) < 2:  # map k: normalized by norms[k], read by convs[k]
        raise InputError("channel pruning expects lmgen's DCGAN generator layout")
    g = copy.deepcopy(generator).eval()
    layers = list(g.net)

    def out_dim(conv: nn.Module) -> int:  # Conv2d weights are out × in × k × k, transposed: in × out
        return 1 if isinstance(conv, nn.ConvTranspose2d) else 0

    def in_dim(conv: nn.Module) -> int:
        return 1 - out_dim(conv)

    fc = g.fc[0]
    side2 = g.side**2
    fc_w = fc.weight.view(layers[norms[0]].num_features, side2, -1)  # rows in groups of side² per channel
    with torch.no_grad():
        keeps = []
        for k, (n_i, c_i) in enumerate(zip(norms, convs, strict=True)):
            bn, reader = layers[n_i], layers[c_i]
            if k == 0:
                written = fc_w.flatten(1).norm(dim=1)
            else:
                writer = layers[convs[k - 1]]
                written = writer.weight.transpose(0, out_dim(writer)).flatten(1).norm(dim=1)
            read = reader.weight.transpose(0, in_dim(reader)).flatten(1).norm(dim=1)
            count = bn.num_features
            scores = (written**2 + read**2).sqrt() * bn.weight.abs()
            keeps.append(_keep(scores, max(1, count - round(share * count))))

        def shrink_bn(bn: nn.BatchNorm2d, idx: torch.Tensor) -> nn.BatchNorm2d:
            new = nn.BatchNorm2d(len(idx), eps=bn.eps, momentum=bn.momentum)
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(new, name).copy_(getattr(bn, name)[idx])
            return new.eval()

        def shrink_conv(conv: Any, idx_in: torch.Tensor, idx_out: torch.Tensor | None) -> Any:
            w = conv.weight.index_select(in_dim(conv), idx_in)
            if idx_out is not None:
                w = w.index_select(out_dim(conv), idx_out)
            cin, cout = len(idx_in), (len(idx_out) if idx_out is not None else w.shape[out_dim(conv)])
            bias = conv.bias is not None
            new = type(conv)(cin, cout, conv.kernel_size, conv.stride, conv.padding, bias=bias)
            new.weight.copy_(w)
            if conv.bias is not None:
                new.bias.copy_(conv.bias if idx_out is None else conv.bias[idx_out])
            return new

        new_fc = nn.Linear(fc.in_features, len(keeps[0]) * side2, bias=fc.bias is not None)
        new_fc.weight.copy_(fc_w[keeps[0]].reshape(len(keeps[0]) * side2, -1))
        if fc.bias is not None:
            new_fc.bias.copy_(fc.bias.view(-1, side2)[keeps[0]].reshape(-1))
        g.fc[0] = new_fc
        for k, (n_i, c_i) in enumerate(zip(norms, convs, strict=True)):
            g.net[n_i] = shrink_bn(layers[n_i], keeps[k])
            g.net[c_i] = shrink_conv(layers[c_i], keeps[k], keeps[k + 1] if k + 1 < len(keeps) else None)
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
