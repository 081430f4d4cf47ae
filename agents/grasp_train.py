"""Train an edge grasp scorer (Edge Grasp Network or VN-Edge) on labelled grasp data.

After Huang et al., "Edge Grasp Network" (ICRA 2023, arXiv:2211.00191): binary cross-entropy on
simulated grasp outcomes with positives and negatives balanced, Adam, and for the (non-equivariant)
Edge Grasp Network a random SO(3) rotation of every training cloud about its centre.

A run directory holds ``config.json`` (resolved config), ``tb/`` (TensorBoard), ``checkpoint.pt``
(atomic, every ``checkpoint_every`` steps; ``resume=True`` continues it bit for bit), ``model.pt``
(loadable by :meth:`GraspDetector.load`), ``curve.png`` and ``summary.json``. Every random draw of
step ``t`` comes from a generator seeded with ``(seed, t)``, so a resumed run repeats exactly the
draws the uninterrupted run would have made.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from equimanip.agents.grasp_dataset import read_shards
from equimanip.atomic import atomic_path, write_json
from equimanip.policies.grasp.balls import trained_extra_depth, view_kwargs

MODEL_KINDS = ("edge", "vn-edge")
TRAIN_CHECKPOINT_FORMAT = "equimanip.grasp_train_checkpoint"
MAX_VAL_EDGES = 4000  # per validation scene, the detector's candidate cap
TOP_K = 10  # validation: precision of the top-ranked edges per scene


@dataclass
class GraspTrainConfig:
    """What ``equimanip grasp train`` runs (saved as ``config.json``)."""

    data: str  # dataset folder(s) (shards + meta.json); several are joined by os.pathsep, as in PATH
    out: str  # run directory
    model: str = "edge"  # edge | vn-edge
    steps: int = 2000  # optimiser steps
    lr: float = 1e-4  # Adam learning rate (the paper's)
    batch_scenes: int = 4  # scenes per step
    edges_per_scene: int = 64  # edges per scene and step, half positives and half negatives where possible
    seed: int = 0  # network init, split, sampling and augmentation
    device: str = "auto"
    val_fraction: float = 0.1  # scenes held out for validation
    val_every: int = 200  # steps between validations (and at the end)
    checkpoint_every: int = 200  # steps between checkpoints (and at the end)
    rotation_augment: bool = True  # random rotations for the Edge Grasp Network (VN-Edge needs none)
    # so3: uniform 3-D rotations (the paper); z: about the table normal only, the scene's physical symmetry
    # (gravity stays down, so the net may use it)
    rotation_axes: str = "so3"
    grad_clip: float = 1.0  # gradient-norm clip (0 disables)
    model_kwargs: dict = field(default_factory=dict)  # hyper-parameter overrides of the network

    def validate(self) -> GraspTrainConfig:
        if self.model not in MODEL_KINDS:
            raise ValueError(f"unknown grasp model {self.model!r}; accepted: {', '.join(MODEL_KINDS)}")
        for name in ("steps", "batch_scenes", "val_every", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.edges_per_scene < 2:
            raise ValueError(f"edges_per_scene must be >= 2; got {self.edges_per_scene}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number; got {self.lr}")
        if self.rotation_axes not in ("so3", "z"):
            raise ValueError(f"rotation_axes must be so3 or z; got {self.rotation_axes!r}")
        if not 0.0 <= self.val_fraction <= 0.5:
            raise ValueError(f"val_fraction must be in [0, 0.5]; got {self.val_fraction}")
        check_model_kwargs(self.model, self.model_kwargs)
        return self

    @classmethod
    def from_json(cls, path: Path) -> GraspTrainConfig:
        data = json.loads(Path(path).read_text())
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def check_model_kwargs(model: str, kwargs: dict) -> None:
    """Refuse network overrides that are not hyper-parameters of ``model``'s config (or that the data sets)."""
    from equimanip.policies.grasp.detector import MODELS

    config_class = type(MODELS[model]().config)
    known = {f.name for f in fields(config_class)} - {"max_extra_depth"}  # the training data sets it
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ValueError(f"unknown {model} network setting(s): {', '.join(unknown)}; accepted: {', '.join(sorted(known))}")


def parse_net_options(items: list[str] | None) -> dict:
    """``["radius=0.06", "conv_channels=32,64,128"]`` → ``{"radius": 0.06, "conv_channels": (32, 64, 128)}``:
    numbers as int or float, comma lists as tuples (``equimanip grasp train --net``)."""
    def number(text: str) -> int | float:
        try:
            return int(text)
        except ValueError:
            return float(text)

    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ValueError(f"--net takes KEY=VALUE (e.g. radius=0.06 or conv_channels=32,64,128); got {item!r}")
        try:
            out[key] = tuple(number(v) for v in value.split(",")) if "," in value else number(value)
        except ValueError:
            raise ValueError(f"--net {key}: {value!r} is not a number or a comma-separated list of numbers") from None
    return out


def data_folders(data: str | os.PathLike | list) -> list[Path]:
    """The dataset folders of ``data``: one path, several joined by ``os.pathsep``, or a list."""
    items = data if isinstance(data, (list, tuple)) else str(data).split(os.pathsep)
    folders = [Path(str(d)) for d in items if str(d)]
    if not folders:
        raise ValueError("no grasp data folder given")
    return folders


def _read_data(data: str) -> list[dict]:
    return [scene for folder in data_folders(data) for scene in read_shards(folder)]


def _fingerprint(scenes: list[dict]) -> dict[str, int]:
    """What identifies a dataset for resume checks: counts and a checksum of its scene seeds and labels."""
    labels = np.concatenate([s["labels"] for s in scenes]) if scenes else np.zeros(0)
    seeds = np.array([s["scene_seed"] for s in scenes], dtype=np.int64)
    return {"scenes": len(scenes), "edges": int(len(labels)), "positives": int(labels.sum()),
            "seed_checksum": int(((seeds + 1) * np.arange(1, len(seeds) + 1)).sum() % (2**61 - 1))}


def _split(num_scenes: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng([seed, 2**31 - 1]).permutation(num_scenes)
    n_val = 0 if fraction == 0 or num_scenes < 2 else min(num_scenes - 1, max(1, round(fraction * num_scenes)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def random_rotation(generator: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A rotation matrix drawn uniformly from SO(3) (QR of a Gaussian matrix, signs fixed)."""
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    if torch.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q.to(dtype)


def random_yaw(generator: torch.Generator, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A rotation about the z axis (the table normal) by a uniform angle."""
    a = float(torch.rand((), generator=generator, dtype=torch.float64)) * 2 * math.pi
    return torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]], dtype=dtype)


def balanced_bce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean of the positives' and the negatives' mean BCE (one class alone when the other is absent)."""
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none")
    pos, neg = labels > 0, labels == 0
    parts = [loss[m].mean() for m in (pos, neg) if m.any()]
    return torch.stack(parts).mean()


def _make_model(config: GraspTrainConfig, max_extra_depth: float = 0.0) -> torch.nn.Module:
    from equimanip.policies.grasp.detector import MODELS

    # module initialisers draw from torch's global generator: seed a fork of it, leave the caller's alone
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        kwargs = dict(config.model_kwargs)
        if max_extra_depth > 0:  # the net learns to score depths: the detector then offers it every depth
            kwargs["max_extra_depth"] = max_extra_depth
        return MODELS[config.model](**kwargs)


def max_extra_depth(scenes: list[dict]) -> float:
    """The deepest extra depth among the labelled hands (m, rounded to a micrometre; 0: depth-blind data)."""
    deepest = max((float(s["extra"].max()) for s in scenes if len(s.get("extra", ()))), default=0.0)
    return round(deepest, 6)


def _scene_tensors(scene: dict, device: torch.device) -> tuple[torch.Tensor, ...]:
    extra = scene.get("extra")
    extra = torch.zeros(len(scene["labels"])) if extra is None else torch.as_tensor(extra)
    return (torch.as_tensor(scene["points"], device=device), torch.as_tensor(scene["normals"], device=device),
            torch.as_tensor(scene["edges"], device=device).long(), torch.as_tensor(scene["labels"], device=device),
            extra.to(device=device, dtype=torch.float32))


def _extra(model: torch.nn.Module, extra: torch.Tensor) -> torch.Tensor | None:
    """What the net reads as the hands' extra depths: nothing for a depth-blind net."""
    return extra if trained_extra_depth(model) > 0 else None


def _view(model: torch.nn.Module, scene: dict, device: torch.device) -> dict:
    """The ``viewpoint`` argument of a net that reads view rays (none for other nets)."""
    viewpoint = scene.get("viewpoint")
    if viewpoint is not None:
        viewpoint = torch.as_tensor(viewpoint, dtype=torch.float32, device=device)
    return view_kwargs(model, viewpoint)


def check_viewpoints(config: GraspTrainConfig, scenes: list[dict]) -> None:
    """A net that reads view rays needs every scene's camera position: refuse data without them up front."""
    if not config.model_kwargs.get("view_rays"):
        return
    missing = sum(s.get("viewpoint") is None for s in scenes)
    if missing:
        raise ValueError(f"view_rays needs the camera position of every scene; {missing} of {len(scenes)} scenes have "
                         "none (data from before viewpoints were kept: python scripts/grasp_add_viewpoints.py DATA...)")


def _train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scenes: list[dict], train_ids: np.ndarray,
                config: GraspTrainConfig, step: int, device: torch.device) -> float:
    rng = np.random.default_rng([config.seed, step])
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    chosen = rng.choice(train_ids, size=min(config.batch_scenes, len(train_ids)), replace=False)
    half = config.edges_per_scene // 2
    model.train()
    optimizer.zero_grad(set_to_none=True)
    losses = []
    for i in chosen:
        points, normals, edges, labels, extra = _scene_tensors(scenes[int(i)], device)
        pos = np.flatnonzero(scenes[int(i)]["labels"] > 0)
        neg = np.flatnonzero(scenes[int(i)]["labels"] == 0)
        pick = np.concatenate([rng.choice(pos, size=min(half, len(pos)), replace=False),
                               rng.choice(neg, size=min(half, len(neg)), replace=False)])
        pick_t = torch.as_tensor(np.sort(pick), device=device)
        view = _view(model, scenes[int(i)], device)
        if config.model == "edge" and config.rotation_augment:
            rot = (random_rotation(generator, points.dtype) if config.rotation_axes == "so3"
                   else random_yaw(generator, points.dtype)).to(device)
            centre = points.mean(0)
            points = (points - centre) @ rot.T + centre
            normals = normals @ rot.T
            if view:  # the camera turns with the scene: the rays keep their relation to the points
                view["viewpoint"] = (view["viewpoint"] - centre) @ rot.T + centre
        extra = _extra(model, extra[pick_t])
        losses.append(balanced_bce(model(points, normals, edges[pick_t], extra=extra, **view), labels[pick_t]))
    loss = torch.stack(losses).mean()
    loss.backward()
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    return float(loss.detach())


@torch.no_grad()
def evaluate(model: torch.nn.Module, scenes: list[dict], ids: np.ndarray, device: torch.device) -> dict[str, float]:
    """Validation metrics over scenes ``ids``: balanced BCE, accuracy and balanced accuracy at 0.5,
    and the success rate of the top-1 and top-10 scored edges of each scene (what a detector executes)."""
    model.eval()
    logits_all, labels_all, top1, topk, losses = [], [], [], [], []
    for i in ids:
        scene = scenes[int(i)]
        if len(scene["labels"]) == 0:
            continue
        points, normals, edges, labels, extra = _scene_tensors(scene, device)
        edges, labels, extra = edges[:MAX_VAL_EDGES], labels[:MAX_VAL_EDGES], extra[:MAX_VAL_EDGES]
        logits = model(points, normals, edges, extra=_extra(model, extra), **_view(model, scene, device))
        losses.append(float(balanced_bce(logits, labels)))
        order = torch.sort(logits, descending=True, stable=True).indices
        top1.append(float(labels[order[0]]))
        topk.append(float(labels[order[:TOP_K]].float().mean()))
        logits_all.append(logits.cpu())
        labels_all.append(labels.cpu())
    if not logits_all:
        return {}
    logits, labels = torch.cat(logits_all), torch.cat(labels_all).bool()
    pred = logits > 0
    recall_pos = float(pred[labels].float().mean()) if labels.any() else float("nan")
    recall_neg = float((~pred[~labels]).float().mean()) if (~labels).any() else float("nan")
    return {"loss": float(np.mean(losses)), "accuracy": float((pred == labels).float().mean()),
            "balanced_accuracy": float(np.nanmean([recall_pos, recall_neg])), "top1_success": float(np.mean(top1)),
            f"top{TOP_K}_precision": float(np.mean(topk)), "scenes": len(top1), "edges": int(len(labels))}


def _plot(history: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loss = np.asarray(history["loss"], dtype=float)
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    steps = np.arange(1, len(loss) + 1)
    ax.plot(steps, loss, alpha=0.3, color="C0")
    window = max(1, len(loss) // 20)
    if len(loss) >= window:
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], smooth, color="C0", label="train loss")
    ax.set_xlabel("step")
    ax.set_ylabel("balanced BCE")
    if history["val"]:
        ax2 = ax.twinx()
        ax2.plot([v["step"] for v in history["val"]], [v.get("accuracy", float("nan")) for v in history["val"]],
                 marker="o", color="C1", label="val accuracy")
        ax2.set_ylabel("val accuracy")
        ax2.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def _open_run(config: GraspTrainConfig, resume: bool) -> GraspTrainConfig:
    out = Path(config.out)
    path = out / "config.json"
    if resume:
        if not path.exists():
            raise ValueError(f"--resume: {out} holds no grasp training run (no config.json)")
        saved = GraspTrainConfig.from_json(path).validate()
        if saved.model != config.model:
            raise ValueError(f"{out} is a run of model {saved.model!r}, not {config.model!r}; use a new run directory")
        if [p.resolve() for p in data_folders(saved.data)] != [p.resolve() for p in data_folders(config.data)]:
            raise ValueError(f"{out} was trained on {saved.data}, not {config.data}; use a new run directory")
        # a resumed run keeps its settings; only the step budget may grow, and a run directory that was
        # moved or copied goes on where it is now, not where it was made
        saved.steps = config.steps
        saved.out = config.out
        return saved.validate()
    config.validate()
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"run directory {out} is not empty; pass --resume to continue it or choose a new one")
    out.mkdir(parents=True, exist_ok=True)
    return config


def train_grasp(data: str | Path, model: str = "edge", out: str | Path = "runs/grasp", steps: int = 2000,
                lr: float = 1e-4, batch_scenes: int = 4, seed: int = 0, device: str = "auto", resume: bool = False,
                progress: bool = True, **options: Any) -> dict[str, Any]:
    """Train a grasp scorer and write the run directory (see the module docstring).

    Args:
        data: dataset folder (``agents.grasp_dataset`` format), or several (a list, or joined by ``os.pathsep``).
        model: ``edge`` (Edge Grasp Network) or ``vn-edge``.
        out: run directory: new or empty, or an existing run with ``resume``.
        steps: total optimiser steps (on resume: the new total).
        lr: Adam learning rate.
        batch_scenes: scenes per step.
        seed: seeds everything random.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``.
        resume: continue the run in ``out`` from its checkpoint.
        progress: show a tqdm progress bar.
        **options: other :class:`GraspTrainConfig` fields (``edges_per_scene``, ``val_every``, …).

    Returns:
        The summary (also written to ``summary.json``).

    Raises:
        ValueError: bad settings, a missing or malformed dataset, a non-empty ``out`` without
            ``resume``, a resume of another model kind or dataset.
    """
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    from equimanip.policies.device import resolve_device
    from equimanip.policies.grasp.detector import GraspDetector

    unknown = set(options) - {f.name for f in fields(GraspTrainConfig)}
    if unknown:
        raise ValueError(f"unknown training options: {', '.join(sorted(unknown))}")
    folders = os.pathsep.join(str(d) for d in data_folders(data))
    config = GraspTrainConfig(data=folders, out=str(out), model=model, steps=steps, lr=lr, batch_scenes=batch_scenes,
                              seed=seed, device=device, **options).validate()
    dev = resolve_device(config.device)
    scenes = _read_data(config.data)  # before touching the run directory: a bad dataset leaves nothing behind
    check_viewpoints(config, scenes)
    fingerprint = _fingerprint(scenes)
    if fingerprint["positives"] == 0 or fingerprint["positives"] == fingerprint["edges"]:
        raise ValueError(f"{config.data}: all {fingerprint['edges']} labels are "
                         f"{'failures' if fingerprint['positives'] == 0 else 'successes'}; nothing to learn")
    config = _open_run(config, resume)
    out = Path(config.out)
    write_json(out / "config.json", asdict(config))
    with_edges = np.array([i for i, s in enumerate(scenes) if len(s["labels"])], dtype=np.int64)
    train_local, val_local = _split(len(with_edges), config.val_fraction, config.seed)
    train_ids, val_ids = with_edges[train_local], with_edges[val_local]

    net = _make_model(config, max_extra_depth(scenes)).to(dev)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    history: dict[str, list] = {"loss": [], "val": []}
    start = 0
    ckpt_path = out / "checkpoint.pt"
    if resume and ckpt_path.exists():
        try:
            ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"{ckpt_path}: unreadable checkpoint ({type(err).__name__})") from None
        if ckpt.get("format") != TRAIN_CHECKPOINT_FORMAT or ckpt.get("model_kind") != config.model:
            raise ValueError(f"{ckpt_path} is not a {config.model!r} grasp training checkpoint")
        if ckpt.get("data_fingerprint") != fingerprint:
            raise ValueError(f"{config.data} is not the dataset {out} was trained on "
                             f"(now {fingerprint}, then {ckpt.get('data_fingerprint')}); use a new run directory")
        net.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start, history = int(ckpt["step"]), ckpt["history"]

    def save_checkpoint(step: int) -> None:
        with atomic_path(ckpt_path) as tmp:
            torch.save({"format": TRAIN_CHECKPOINT_FORMAT, "model_kind": config.model, "step": step,
                        "model": net.state_dict(), "optimizer": optimizer.state_dict(), "history": history,
                        "data_fingerprint": fingerprint}, tmp)

    writer = SummaryWriter(log_dir=str(out / "tb"), purge_step=start if start else None)
    t0 = time.perf_counter()
    bar = tqdm(total=config.steps, initial=start, disable=not progress, desc=f"grasp train {config.model}",
               unit="step", dynamic_ncols=True)
    try:
        for step in range(start, config.steps):
            loss = _train_step(net, optimizer, scenes, train_ids, config, step, dev)
            history["loss"].append(loss)
            writer.add_scalar("train/loss", loss, step + 1)
            done = step + 1
            if len(val_ids) and (done % config.val_every == 0 or done == config.steps):
                metrics = evaluate(net, scenes, val_ids, dev)
                history["val"].append({"step": done, **metrics})
                for key, value in metrics.items():
                    writer.add_scalar(f"val/{key}", value, done)
                bar.set_postfix(loss=f"{loss:.3f}", val_acc=f"{metrics.get('accuracy', float('nan')):.3f}")
            else:
                bar.set_postfix(loss=f"{loss:.3f}")
            if done % config.checkpoint_every == 0 or done == config.steps:
                save_checkpoint(done)
            bar.update(1)
    finally:
        bar.close()
        writer.close()
    seconds = time.perf_counter() - t0
    last_val = history["val"][-1] if history["val"] else {}
    recent = history["loss"][-max(1, min(50, len(history["loss"]))):]
    summary = {"model": config.model, "steps": config.steps, "resumed_from": start,
               "parameters": int(sum(p.numel() for p in net.parameters())),
               "final_loss": float(np.mean(recent)) if recent else None, "val": last_val,
               "train_scenes": int(len(train_ids)), "val_scenes": int(len(val_ids)), "data": fingerprint,
               "seconds_this_session": round(seconds, 2), "device": str(dev), "seed": config.seed}
    GraspDetector(scorer=config.model, model=net.cpu(), meta={"trained_on": config.data, "steps": config.steps,
                                                                 "val": last_val}).save(out / "model.pt")
    name = "+".join(p.name for p in data_folders(config.data))
    _plot(history, out / "curve.png", f"{config.model} on {name}: {config.steps} steps")
    write_json(out / "summary.json", summary)
    return summary


def train_from_args(args: Any) -> int:
    """``equimanip grasp train`` (the parser lives in ``equimanip.grasp_cli``)."""
    options = {k: getattr(args, k) for k in ("edges_per_scene", "val_every", "checkpoint_every", "rotation_axes")
               if getattr(args, k, None) is not None}
    net = parse_net_options(getattr(args, "net", None))
    if net:
        options["model_kwargs"] = net
    summary = train_grasp(args.data, model=args.model, out=args.out, steps=args.steps, lr=args.lr,
                          batch_scenes=args.batch_scenes, seed=args.seed, device=args.device, resume=args.resume,
                          progress=not args.no_progress, **options)
    val = summary["val"]
    val_text = (f", val accuracy {val['accuracy']:.3f}, top-1 success {val['top1_success']:.3f} "
                f"({summary['val_scenes']} scenes)" if val else ", no validation scenes")
    print(f"{args.out}: {summary['model']} trained to step {summary['steps']} (loss {summary['final_loss']:.4f}"
          f"{val_text}); model {Path(args.out) / 'model.pt'}")
    return 0
