"""The optimiser, its schedule, one training step and one evaluation pass.

On CUDA the whole training step (forward, backward, clipping, optimizer) can be
captured once as a CUDA graph and replayed per batch: at batch 32 the HRNN's step is
hundreds of tiny kernels, and launching them one by one costs more than running them.
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from train.config import Config

StepFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def make_optimizer(model: nn.Module, config: Config, capturable: bool) -> torch.optim.Optimizer:
    # A tensor learning rate lets a captured graph see the schedule's updates.
    lr = torch.tensor(config.lr, device=_device_of(model)) if capturable else config.lr
    if config.optimizer == "rmsprop":  # Keras: rho=0.9, epsilon=1e-7 outside the sqrt
        return torch.optim.RMSprop(
            model.parameters(), lr=lr, alpha=0.9, eps=1e-7, capturable=capturable
        )
    if config.optimizer == "adamw":
        return torch.optim.AdamW(
            model.parameters(), lr=lr, weight_decay=config.weight_decay, capturable=capturable
        )
    raise ValueError(f"unknown optimizer {config.optimizer!r}; use rmsprop or adamw")


def learning_rate(config: Config, step: int, total_steps: int) -> float:
    if config.schedule == "constant":
        return config.lr
    if config.schedule == "onecycle":
        warmup = max(1, int(config.warmup_fraction * total_steps))
        if step < warmup:
            return config.lr * (0.04 + 0.96 * step / warmup)
        progress = (step - warmup) / max(1, total_steps - warmup)
        return config.lr * (0.0005 + 0.9995 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
    raise ValueError(f"unknown schedule {config.schedule!r}; use constant or onecycle")


def set_learning_rate(optimizer: torch.optim.Optimizer, value: float) -> None:
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(value)
        else:
            group["lr"] = value


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def make_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, config: Config, bf16: bool = False
) -> StepFn:
    """A training step returning (summed loss, correct count) as device tensors (no sync).

    bf16 runs the forward pass under autocast (the LSTMs then use oneDNN's bf16 kernels
    on CPUs with AMX, or bf16 cuDNN on GPUs); weights and optimizer stay float32.
    """
    parameters = list(model.parameters())
    device_type = _device_of(model).type

    def step(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(images)
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip, foreach=True)
        optimizer.step()
        correct = (logits.detach().argmax(1) == labels).sum()
        return loss.detach() * labels.shape[0], correct

    return step


def capture_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, step: StepFn, images, labels
) -> StepFn:
    """Record `step` as a CUDA graph on static buffers; replay it for every batch.

    Capture needs a few eager warm-up steps first (they also create the optimizer's
    state outside the graph). They would move the weights, so weights and optimizer
    state are put back in place afterwards, and training starts unchanged: RMSprop's and
    AdamW's fresh state is all zeros; a resumed run gets its loaded state back.
    """
    saved_model = {k: v.clone() for k, v in model.state_dict().items()}
    saved_state = {p: {k: v.clone() for k, v in s.items()} for p, s in optimizer.state.items()}
    static_images, static_labels = images.clone(), labels.clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step(static_images, static_labels)
    torch.cuda.current_stream().wait_stream(side)
    with torch.no_grad():
        for name, value in model.state_dict().items():
            value.copy_(saved_model[name])
        for parameter, state in optimizer.state.items():
            for key, value in state.items():
                if parameter in saved_state:
                    value.copy_(saved_state[parameter][key])
                else:
                    value.zero_()
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        static_loss, static_correct = step(static_images, static_labels)

    def replay(batch_images: torch.Tensor, batch_labels: torch.Tensor):
        static_images.copy_(batch_images)
        static_labels.copy_(batch_labels)
        graph.replay()
        return static_loss.clone(), static_correct.clone()

    return replay


@torch.no_grad()
def evaluate(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000
) -> tuple[float, float, torch.Tensor]:
    """Mean loss, accuracy and predictions of a uint8 image set."""
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), device=images.device)
    predictions = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].float().div_(255)
        logits = model(batch)
        target = labels[start : start + batch_size]
        total_loss += F.cross_entropy(logits, target, reduction="sum")
        predictions.append(logits.argmax(1))
    model.train(was_training)
    predicted = torch.cat(predictions)
    accuracy = (predicted == labels).float().mean().item()
    return total_loss.item() / len(images), accuracy, predicted.cpu()
