"""Behaviour cloning and SEIL: equivariant (or CNN) BC from few demos, with transition simulation.

``simulate_n = 0`` is plain BC; ``simulate_n > 0`` adds SEIL's simulated corrective samples
(:mod:`equimanip.agents.transition_sim`). Every batch is also rotated by random angles in
[0, 2π) (images about their centre, the action's ``(dx, dy)`` with them) — SEIL's "rotated
copies", drawn afresh each step instead of stored. The loss is the MSE between ``tanh`` of the
network output and the normalised expert action (REFERENCES §4).

A run directory holds ``config.json``, ``dataset/`` (when the demos were collected by the run),
``samples.npz`` (demos + simulated samples), ``tb/``, ``eval.csv``, ``checkpoint.pt`` (atomic;
``--resume`` continues from it bit-for-bit), ``model.pt``, ``curve.png``, ``eval.mp4`` and
``summary.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from equimanip.atomic import atomic_path, atomic_write_text
from equimanip.symmetry import ACTION_INDEX

NETWORKS = ("equi", "cnn")
LR_SCHEDULES = ("cosine", "constant")
DEPTH_SCALE = 10.0
# SEIL's setting (REFERENCES §4): 2 cm and π/8 per unit action; 64 px keeps a run within minutes
# of a 2-core CPU (128 px costs ≈ 4× more per step, see docs/benchmarks/seil.md)
DEFAULT_ENV_OPTIONS: dict[str, Any] = {"dpos": 0.02, "image_size": 64}
DEMO_SEED = 1_000_000
EVAL_SEED = 2_000_000
VALIDATION_SEED = 3_000_000


def first_eval_seed(seed: int) -> int:
    """Reset seed of a training seed's first evaluation episode (episode ``i`` uses this ``+ i``)."""
    return EVAL_SEED + 1000 * seed


def first_validation_seed(seed: int) -> int:
    """Reset seed of the first validation episode (``select_best``): disjoint from demos and evaluation episodes."""
    return VALIDATION_SEED + 1000 * seed


# fields added after runs were saved, with the value such runs trained with (in-hand offsets: none)
PREDATING_RUN_VALUES: dict[str, Any] = {"grasp_offset_n": 0}


@dataclass
class BCConfig:
    """Settings of one BC / SEIL run.

    Attributes:
        env: task id; taken from the dataset when ``dataset`` is given.
        dataset: a LeRobot v3.0 dataset written by ``equimanip collect`` (else demos are collected).
        demos: episodes used (the first ``demos`` of the dataset, or collected).
        seed: seed of networks, batches, perturbations and evaluation episodes.
        policy: ``equi`` (escnn, ``group``) or ``cnn``.
        group: symmetry group of the equivariant network (D4 in SEIL).
        simulate_n: simulated corrective samples per free-space expert step (0: plain BC; 4 in SEIL).
        sigma: std of the perturbations, in normalised action units (0.4 in SEIL).
        sim_weight: sampling weight of a simulated sample relative to an expert one (1: SEIL; ``4 / simulate_n``
            keeps SEIL's expert/simulated balance with more, more varied simulated samples).
        sim_reach: largest planar perturbation, in steps per axis (1: SEIL, every simulated view one step
            from its target). Larger (our extension) draws ``(dx, dy)`` with std ``sim_reach·sigma``, showing
            views farther off the demonstrated path, labelled with the step towards it clipped per axis.
        simulate_holding: also simulate while an object is held, carrying it with the virtual
            gripper (our extension; SEIL simulates free space only): corrections while carrying are
            what a policy hovering a little off the release point needs.
        grasp_offset_n: of the ``simulate_n`` views of each step holding an object, how many also shift it
            within the hand (our extension): demonstrated grasps are centred, and a policy whose grasp is
            off-centre chases the held cube. Labels keep the object on the demonstrated path. ``None`` (the
            default) resolves to half the views (2 of SEIL's 4) when held objects are simulated, else 0;
            0 turns them off (SEIL's views). Configs saved by runs that predate the option read as 0.
        grasp_offset: largest in-hand shift of those views, metres along the jaw (0.02).
        release_views: views of a release step drawn around the release pose itself, below it too, labelled
            "open" (our extension; SEIL's views lie around the previous pose, above it): a policy that comes down
            a little too far then still lets go (:mod:`equimanip.agents.transition_sim`).
        switch_weight: the steps where the expert's gripper command changes (grasps, releases), their expert
            sample and their simulated views, drawn that many times as often (1: as SEIL; our extension).
        rotate: random rotations of every batch (SEIL's rotated copies).
        steps, batch_size, learning_rate: optimisation (Adam, MSE on tanh outputs).
        lr_schedule: ``cosine`` (decay to 0 over ``steps``: the last steps settle on the rare
            samples, e.g. the release over the bowl, instead of jumping around them) or ``constant``.
        weight_decay: Adam's L2 penalty on the weights (0; SEIL's released code uses 1e-5 with a constant rate).
        n_hidden: width of the networks (regular fields of the equivariant encoder).
        ensemble: networks trained side by side on the same batches from different initial weights; the
            policy acts on the mean of their outputs (1: one network; our extension: one run that never learns
            to let go is outvoted). Costs ``ensemble`` times the training time.
        eval_every: gradient steps between evaluations (0: only at the end).
        eval_episodes: evaluation episodes (seeds ``2_000_000 + 1000·seed`` …).
        periodic_eval_episodes: episodes of the evaluations during training (0: ``eval_episodes``); the
            same seeds as the final evaluation's first ones (validation seeds with ``select_best``). SEIL's
            protocol: 50 every tenth of training, reporting each run's best. Their time is not counted as training time.
        select_best: model selection on held-out episodes: the evaluations during training (and one after the
            last step) run on validation episodes (seeds ``3_000_000 + 1000·seed`` …, never the final
            evaluation's), the weights with the best validation success (the later on a tie) are kept in
            ``best.pt`` and become ``model.pt``; the final evaluation then tests them on the usual episodes, so
            its figure is not picked on the episodes it reports. Needs ``eval_every``.
        max_episode_steps: step limit of evaluation episodes (0: the task's own, 50 for every task here;
            SEIL's released code evaluates with 100). The summary keeps each episode's length, so the
            success under any shorter limit is known too.
        checkpoint_every: gradient steps between checkpoints.
        env_options: env options (defaults: SEIL's dpos 0.02, 64 px); a dataset's override them.
        device: ``auto``, ``cpu`` or ``cuda``.
        precision: ``auto`` (bf16 mixed precision where the hardware has bf16 matrix units: AMX or AVX-512 BF16 CPUs,
            Ampere+ GPUs; else fp32), ``fp32`` or ``bf16``. Evaluation always runs in fp32.
        video_episodes: evaluation episodes recorded in ``eval.mp4``.
    """

    env: str = ""
    dataset: str | None = None
    demos: int = 10
    seed: int = 0
    policy: str = "equi"
    group: str = "D4"
    simulate_n: int = 4
    sigma: float = 0.4
    sim_weight: float = 1.0
    sim_reach: float = 1.0
    simulate_holding: bool = True
    grasp_offset_n: int | None = None
    grasp_offset: float = 0.02
    release_views: bool = False
    switch_weight: float = 1.0
    rotate: bool = True
    steps: int = 1000
    batch_size: int = 64
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"
    weight_decay: float = 0.0
    n_hidden: int = 32
    ensemble: int = 1
    eval_every: int = 0
    eval_episodes: int = 50
    periodic_eval_episodes: int = 0
    select_best: bool = False
    max_episode_steps: int = 0
    checkpoint_every: int = 250
    env_options: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    precision: str = "auto"
    video_episodes: int = 2

    @property
    def algo(self) -> str:
        return "seil" if self.simulate_n > 0 else "bc"

    def validate(self) -> BCConfig:
        from equimanip.envs import task_class
        from equimanip.symmetry import group_from_name

        if not self.env and not self.dataset:
            raise ValueError("give a dataset (--dataset DIR) or an env to collect demos in (--env ID)")
        if self.env:
            self.env = task_class(self.env).env_id
        if self.policy not in NETWORKS:
            raise ValueError(f"unknown policy {self.policy!r}; accepted: {', '.join(NETWORKS)}")
        group = group_from_name(self.group)
        self.group = group.name
        if self.env and self.policy == "equi":
            task_class(self.env).symmetry.check_subgroup(group)
        for name in ("demos", "steps", "batch_size", "eval_episodes", "checkpoint_every", "n_hidden", "ensemble"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("simulate_n", "eval_every", "video_episodes", "max_episode_steps", "periodic_eval_episodes",
                     "grasp_offset_n"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {getattr(self, name)!r}")
        if self.grasp_offset_n is None:
            self.grasp_offset_n = int(self.simulate_n) // 2 if self.simulate_holding else 0
        if not (math.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"sigma must be a positive number, got {self.sigma!r}")
        if not (math.isfinite(self.sim_weight) and self.sim_weight > 0):
            raise ValueError(f"sim_weight must be a positive number, got {self.sim_weight!r}")
        if not (math.isfinite(self.switch_weight) and self.switch_weight >= 1):
            raise ValueError(f"switch_weight must be a number >= 1 (1: grasps and releases weigh like any step), "
                             f"got {self.switch_weight!r}")
        if not (math.isfinite(self.sim_reach) and self.sim_reach >= 1):
            raise ValueError(f"sim_reach must be a number of steps >= 1 (1: SEIL's one-step corrections), "
                             f"got {self.sim_reach!r}")
        if self.grasp_offset_n and (self.grasp_offset_n > self.simulate_n or not self.simulate_holding):
            raise ValueError(f"grasp_offset_n ({self.grasp_offset_n}) shifts held objects in some of the simulate_n "
                             f"({self.simulate_n}) views of a step: it needs grasp_offset_n <= simulate_n and simulated "
                             "holding (not --free-space-only)")
        if not (math.isfinite(self.grasp_offset) and 0 < self.grasp_offset <= 0.05):
            raise ValueError(f"grasp_offset must be a shift in metres in (0, 0.05], got {self.grasp_offset!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a non-negative number, got {self.weight_decay!r}")
        if self.select_best and not self.eval_every:
            raise ValueError("select_best picks the best of the evaluations during training: set eval_every > 0 "
                             "(e.g. a tenth of the steps)")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; accepted: {', '.join(LR_SCHEDULES)}")
        from equimanip.policies.device import check_precision

        check_precision(self.precision)
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}")
        return self

    def to_json(self) -> str:
        return json.dumps({"kind": "bc", **dataclasses.asdict(self)}, indent=2)

    @classmethod
    def from_json(cls, path: Path) -> BCConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read the config {path}: {exc}") from exc
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - {"kind"})
        if unknown:
            raise ValueError(f"unknown config keys {unknown} in {path}; accepted: {', '.join(sorted(known))}")
        if "kind" in data:  # saved by a run: fields it predates take the values it trained with
            data = {**PREDATING_RUN_VALUES, **data}
        return cls(**{k: v for k, v in data.items() if k in known})


# ------------------------------------------------------------------------------------------------
# Networks and the policy wrapper
def depth_channels(env_options: dict[str, Any]) -> int:
    """Channels of the depth observation an env with these options gives (the env's own rule)."""
    from equimanip.envs.tabletop import depth_channels as env_depth_channels

    return env_depth_channels(env_options.get("context_view"))


class BCEnsemble(torch.nn.Module):
    """Networks of one run trained side by side: ``forward`` is the mean of their outputs (an ensemble of
    equivariant networks is equivariant), :meth:`members_forward` each one's, stacked, for their losses."""

    def __init__(self, members: list[torch.nn.Module]):
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def members_forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.members_forward(x).mean(dim=0)


def make_network(config: BCConfig, image_size: int) -> torch.nn.Module:
    """The run's network (a :class:`BCEnsemble` of ``config.ensemble`` of them when more than one): its depth
    channels (:func:`depth_channels` of its env options) and the holding flag in."""
    from equimanip.policies import CNNBCHead, EquivariantBCHead

    channels = depth_channels(config.env_options) + 1

    def one() -> torch.nn.Module:
        if config.policy == "equi":
            return EquivariantBCHead(config.group, in_channels=channels, image_size=image_size, n_hidden=config.n_hidden)
        return CNNBCHead(in_channels=channels, image_size=image_size, features=3 * config.n_hidden)

    return one() if config.ensemble == 1 else BCEnsemble([one() for _ in range(config.ensemble)])


def stack_inputs(depth: torch.Tensor, holding: torch.Tensor) -> torch.Tensor:
    """``B×C×S×S`` depth (metres; C = 2 with a context view) and ``B×1`` holding → the ``B×(C+1)×S×S``
    network input, depth in decimetres: the centimetre differences that decide a grasp or a release
    are then not tiny next to the holding channel and the biases."""
    return torch.cat([depth * DEPTH_SCALE, holding.reshape(-1, 1, 1, 1).expand(-1, 1, *depth.shape[-2:])], dim=1)


def rotate_batch(images: torch.Tensor, actions: torch.Tensor, angles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate images (about their centre, counter-clockwise, image up = +y) and actions by ``angles``.

    The same convention as :func:`equimanip.symmetry.transform_image` / ``transform_action``
    (tested: multiples of 90° agree exactly). Rotated ``(dx, dy)`` are clipped to [-1, 1] per
    component, as the env clips any action.
    """
    c, s = torch.cos(angles), torch.sin(angles)
    # output pixel p samples the input at R(-θ) p in planar (y up) coordinates, which is R(θ) p
    # in grid_sample's (x right, y down) ones
    theta = torch.zeros(len(angles), 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0], theta[:, 0, 1] = c, -s
    theta[:, 1, 0], theta[:, 1, 1] = s, c
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    rotated = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    out = actions.clone()
    i = ACTION_INDEX["dxy"]
    dx, dy = actions[:, i.start], actions[:, i.start + 1]
    out[:, i.start] = (c * dx - s * dy).clamp(-1, 1)
    out[:, i.start + 1] = (s * dx + c * dy).clamp(-1, 1)
    return rotated, out


def _exported(net: torch.nn.Module) -> torch.nn.Module:
    """Plain torch convolutions with the expanded filters for escnn networks (an ensemble's members too)."""
    from equimanip.policies import EquivariantBCHead, export

    if isinstance(net, BCEnsemble):
        return BCEnsemble([_exported(m) for m in net.members])
    return export(net) if isinstance(net, EquivariantBCHead) else net


class BCPolicy:
    """A trained BC/SEIL network as a policy: ``predict(obs) -> (action, None)`` like SB3 models."""

    def __init__(self, net: torch.nn.Module, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        net = net.to(self.device).eval()
        # plain torch convolutions with the expanded filters: same outputs, faster inference
        self.net = _exported(net)
        self.net.eval()
        # depth channels the network reads (its first convolution's inputs less the holding flag)
        self.depth_channels = next(m.in_channels for m in self.net.modules() if isinstance(m, torch.nn.Conv2d)) - 1

    @torch.no_grad()
    def predict(self, obs: dict[str, np.ndarray], deterministic: bool = True) -> tuple[np.ndarray, None]:
        depth = torch.as_tensor(np.asarray(obs["depth"], np.float32), device=self.device)
        holding = torch.as_tensor(np.asarray(obs["holding"], np.float32), device=self.device)
        batched = depth.ndim == 4
        if not batched:
            depth, holding = depth[None], holding[None]
        if depth.ndim != 4 or depth.shape[1] != self.depth_channels:
            raise ValueError(f"this policy reads depth images of {self.depth_channels} channel(s) "
                             f"({'with' if self.depth_channels == 2 else 'without'} a context_view), got an observation "
                             f"of shape {tuple(np.shape(obs['depth']))}: run it in an env with its run's env options")
        action = torch.tanh(self.net(stack_inputs(depth, holding))).cpu().numpy()
        return (action if batched else action[0]), None


# ------------------------------------------------------------------------------------------------
# Data
def _env_kwargs(config: BCConfig) -> dict[str, Any]:
    return dict(config.env_options)


def _dataset(config: BCConfig, run: Path, progress: bool) -> Any:
    """Open the dataset (checking it fits the config) or collect the demos into ``run/dataset``."""
    from equimanip.collect import collect
    from equimanip.dataset import Dataset

    if config.dataset:
        data = Dataset.open(config.dataset)
        if config.env and config.env.split("/")[-1] != data.env_id.split("/")[-1]:
            raise ValueError(f"dataset {config.dataset} holds {data.env_id} episodes, not {config.env}")
    else:
        path = run / "dataset"
        collect(config.env, config.demos, DEMO_SEED + 1000 * config.seed, path, env_options=config.env_options,
                progress=progress)
        data = Dataset.open(path)
    if data.num_episodes < config.demos:
        raise ValueError(f"the dataset has {data.num_episodes} episodes; {config.demos} demos were asked for")
    return data


def build_samples(config: BCConfig, data: Any, progress: bool = False) -> Any:
    import gymnasium as gym

    from equimanip.agents.transition_sim import replay_samples

    env = gym.make(data.env_id, **data.env_options)
    try:
        return replay_samples(env, data, list(range(config.demos)), n=config.simulate_n, sigma=config.sigma,
                              seed=config.seed, progress=progress, simulate_holding=config.simulate_holding,
                              sim_weight=config.sim_weight, reach=config.sim_reach,
                              grasp_offset_n=config.grasp_offset_n, grasp_offset=config.grasp_offset,
                              release_views=config.release_views, switch_weight=config.switch_weight)
    finally:
        env.close()


# ------------------------------------------------------------------------------------------------
# Training
def _save_checkpoint(path: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, step: int,
                     rng: np.random.Generator, torch_gen: torch.Generator) -> None:
    with atomic_path(path) as tmp:
        torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step,
                    "numpy_rng": rng.bit_generator.state, "torch_rng": torch_gen.get_state()}, tmp)


def _load_checkpoint(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise ValueError(f"cannot resume from {path}: the checkpoint is corrupted ({type(exc).__name__}: {exc}); "
                         "start a new run directory instead") from exc


def train(config: BCConfig, run: Path, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train (or resume) a BC/SEIL run; returns the summary with the final evaluation."""
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    from equimanip.agents.run_dir import open_run, plot_curve, read_eval, write_eval
    from equimanip.policies import resolve_device
    from equimanip.policies.device import autocast, resolve_precision
    from equimanip.provenance import code_revision

    code = code_revision()  # the checkout this process trains with, not the one at the end of a long run
    run = Path(run)
    config_path = run / "config.json"
    config = open_run(run, config, BCConfig.from_json, resume)
    if not resume and not config.dataset:
        config.env_options = {**DEFAULT_ENV_OPTIONS, **config.env_options}
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    torch.manual_seed(config.seed)

    start = time.perf_counter()
    data = _dataset(config, run, progress)
    if config.dataset:  # the dataset decides the env and its options
        if not config.env:
            config.env = data.env_id
        config.env_options = dict(data.env_options)
        if config.policy == "equi":
            from equimanip.envs import task_class
            from equimanip.symmetry import group_from_name

            task_class(config.env).symmetry.check_subgroup(group_from_name(config.group))
    if not resume:
        atomic_write_text(config_path, config.to_json())
    samples_path = run / "samples.npz"
    if samples_path.exists():
        from equimanip.agents.transition_sim import Samples

        samples = Samples.load(samples_path)
        sample_stats = json.loads((run / "samples.json").read_text()) if (run / "samples.json").exists() else {}
    else:
        samples = build_samples(config, data, progress)
        sample_stats = samples.stats
        samples.save(samples_path)
        atomic_write_text(run / "samples.json", json.dumps(sample_stats, indent=2))
    data_seconds = time.perf_counter() - start

    image_size = samples.depth.shape[-1]
    net = make_network(config, image_size).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    torch_gen = torch.Generator().manual_seed(config.seed)
    step = 0
    checkpoint = run / "checkpoint.pt"
    if resume and checkpoint.exists():
        state = _load_checkpoint(checkpoint)
        try:
            net.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise ValueError(f"cannot resume from {checkpoint}: it does not match this run's network ({exc})") from exc
        step = int(state["step"])
        rng.bit_generator.state = state["numpy_rng"]
        torch_gen.set_state(state["torch_rng"])

    probs = samples.weight.astype(np.float64) / samples.weight.sum()
    depth = torch.as_tensor(samples.depth, device=device)
    holding = torch.as_tensor(samples.holding, device=device)
    actions = torch.as_tensor(samples.action, device=device)
    writer = SummaryWriter(str(run / "tb"))
    rows = [r for r in read_eval(run) if r["steps"] <= step]
    eval_seed = first_eval_seed(config.seed)
    periodic_seed = first_validation_seed(config.seed) if config.select_best else eval_seed
    best_path = run / "best.pt"
    best = _best_record(best_path) if config.select_best and resume else None
    bar = tqdm(total=config.steps, initial=step, desc=f"{config.env} {config.algo}/{config.policy}", unit="step",
               disable=not progress)
    periodic_seconds = 0.0

    def evaluate_during_training() -> None:
        nonlocal periodic_seconds, best
        eval_start = time.perf_counter()
        result = evaluate_net(net, config, config.periodic_eval_episodes or config.eval_episodes, periodic_seed, device)
        periodic_seconds += time.perf_counter() - eval_start
        net.train()
        rows.append(_eval_row(step, result))
        write_eval(run, rows)
        writer.add_scalar("validation/success_rate" if config.select_best else "eval/success_rate",
                          result["success_rate"], step)
        if config.select_best and (best is None or result["success_rate"] >= best["success_rate"]):
            best = {"step": step, "success_rate": result["success_rate"]}
            with atomic_path(best_path) as tmp:
                torch.save({"model": net.state_dict(), **best}, tmp)

    train_start = time.perf_counter()
    net.train()
    while step < config.steps:
        idx = torch.as_tensor(rng.choice(len(samples), size=config.batch_size, p=probs), device=device)
        images, target = stack_inputs(depth[idx], holding[idx]), actions[idx]
        if config.rotate:
            angles = torch.rand(config.batch_size, generator=torch_gen).to(device) * (2 * math.pi)
            images, target = rotate_batch(images, target, angles)
        if config.lr_schedule == "cosine":
            for group in opt.param_groups:
                group["lr"] = config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * step / config.steps))
        with autocast(device, precision):
            # every member's own loss (the mean of their losses: each member's gradient is its own, scaled)
            out = net.members_forward(images) if isinstance(net, BCEnsemble) else net(images)
        loss = F.mse_loss(torch.tanh(out.float()), target.expand_as(out))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update(1)
        if step % 25 == 0:
            writer.add_scalar("train/loss", loss.item(), step)
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if step % config.checkpoint_every == 0 or step == config.steps:
            _save_checkpoint(checkpoint, net, opt, step, rng, torch_gen)
        if config.eval_every and step % config.eval_every == 0 and step < config.steps:
            evaluate_during_training()
    bar.close()
    train_seconds = time.perf_counter() - train_start - periodic_seconds
    if config.select_best:
        # the last step is a candidate too (also after a resume that found training done but not validated)
        if not rows or rows[-1]["steps"] != step:
            evaluate_during_training()
        net.load_state_dict(_load_checkpoint(best_path)["model"])

    with atomic_path(run / "model.pt") as tmp:
        torch.save({"model": net.state_dict(), "image_size": image_size}, tmp)
    final = evaluate_net(net, config, config.eval_episodes, eval_seed, device, video=run / "eval.mp4",
                         video_episodes=config.video_episodes)
    if not rows or rows[-1]["steps"] != step:
        rows.append(_eval_row(step, final))
        write_eval(run, rows)
    writer.add_scalar("eval/success_rate", final["success_rate"], best["step"] if best else step)
    writer.close()
    title = f"{config.env} {config.algo}/{config.policy} seed {config.seed}"
    if best:
        title += f" (validation episodes; kept step {best['step']})"
    plot_curve(rows, run / "curve.png", title, xlabel="gradient steps")
    summary = {"config": dataclasses.asdict(config), "algo": config.algo, "final_eval": final, "steps": step,
               "code": code,
               "samples": {"total": len(samples), "expert": int((~samples.simulated).sum()),
                           "simulated": int(samples.simulated.sum()), **sample_stats},
               "precision": precision, **({"selected": best} if best else {}),
               "seconds": {"data": data_seconds, "train": train_seconds, "periodic_eval": periodic_seconds}}
    atomic_write_text(run / "summary.json", json.dumps(summary, indent=2))
    return summary


def _best_record(path: Path) -> dict | None:
    """Step and validation success of the weights kept so far by ``select_best`` (None before the first)."""
    if not path.exists():
        return None
    state = _load_checkpoint(path)
    return {"step": int(state["step"]), "success_rate": float(state["success_rate"])}


def _eval_row(step: int, result: dict) -> dict:
    return {"steps": step, "success_rate": result["success_rate"], "ci_low": result["success_ci95"][0],
            "ci_high": result["success_ci95"][1], "mean_length": result["mean_length"]}


def evaluate_net(net: torch.nn.Module, config: BCConfig, episodes: int, seed: int, device: torch.device | str = "cpu",
                 video: Path | None = None, video_episodes: int = 0) -> dict[str, Any]:
    from equimanip.agents.train_rl import evaluate

    return evaluate(BCPolicy(net, device), config, episodes, seed, video=video, video_episodes=video_episodes)


def load_run(run: Path, device: str = "auto") -> tuple[BCPolicy, BCConfig]:
    """The trained policy and config of a BC/SEIL run (final model, else the last checkpoint)."""
    from equimanip.policies import resolve_device

    run = Path(run)
    config = BCConfig.from_json(run / "config.json").validate()
    path = run / "model.pt" if (run / "model.pt").exists() else run / "checkpoint.pt"
    if not path.exists():
        raise ValueError(f"{run} holds no trained model yet (no model.pt or checkpoint.pt)")
    state = _load_checkpoint(path)
    image_size = int(config.env_options.get("image_size", 128))
    net = make_network(config, state.get("image_size", image_size))
    try:
        net.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as exc:
        raise ValueError(f"cannot load the model in {run}: it does not match the run's config ({exc})") from exc
    return BCPolicy(net, resolve_device(device)), config


__all__ = ["BCConfig", "BCPolicy", "BCEnsemble", "train", "load_run", "first_eval_seed", "first_validation_seed", "rotate_batch",
           "stack_inputs", "make_network", "build_samples"]
