"""``GraspDetector``: point cloud in, ranked 6-DoF grasps out.

    detector = GraspDetector.load("default")            # or "vn-edge", "random-edge", "heuristic", a .pt path
    grasps = detector.detect(points, top_k=10, viewpoint=camera_position, table_height=0.0)
    best = grasps[0]                                     # Grasp(pose 4×4, width, score), sorted by score

Pipeline: drop non-finite points → :func:`~equimanip.policies.grasp.edges.preprocess_cloud` (crop
the table, voxel downsample, normals) → :func:`~equimanip.policies.grasp.edges.sample_edges`
(candidates, pruned for collisions) → a scorer: a trained network (Edge Grasp or VN-Edge,
Huang et al. 2023), random scores (``random-edge``, the paper's no-network baseline) or the
geometric antipodal score of :mod:`~equimanip.policies.grasp.heuristic`.
"""

from __future__ import annotations

import importlib.resources
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from equimanip.atomic import atomic_path
from equimanip.policies.device import autocast, resolve_device, resolve_precision
from equimanip.policies.grasp.edge_net import EdgeGraspNet
from equimanip.policies.grasp.balls import reads_view_rays, trained_extra_depth, view_kwargs
from equimanip.policies.grasp.edges import EdgeSet, preprocess_cloud, sample_edges
from equimanip.policies.grasp.gripper import FRANKA_HAND, GripperGeometry
from equimanip.policies.grasp.heuristic import antipodal_scores
from equimanip.policies.grasp.vn_edge_net import VNEdgeGraspNet

CHECKPOINT_FORMAT = "equimanip.grasp_detector"
CHECKPOINT_VERSION = 1
MODELS: dict[str, type[torch.nn.Module]] = {"edge": EdgeGraspNet, "vn-edge": VNEdgeGraspNet}
SCORERS = ("edge", "vn-edge", "ensemble", "random-edge", "heuristic")
NET_SCORERS = (*MODELS, "ensemble")  # the scorers that hold a network
SHIPPED = {"default": "default.pt", "vn-edge": "vn_edge.pt"}  # names -> files in equimanip/assets/grasp
NAMES = ("default", "vn-edge", "random-edge", "heuristic")
MAX_POINTS = 2_000_000  # raw points accepted by detect(); more is a mistake (e.g. a whole map), not a view
MIN_POINTS = 20  # after downsampling: fewer cannot hold a graspable surface


@dataclass
class Grasp:
    """One grasp: ``pose`` (4×4, frame of :mod:`~equimanip.policies.grasp.gripper`, float64), opening
    ``width`` (m) and ``score`` (higher is better; a success probability for the networks)."""

    pose: np.ndarray
    width: float
    score: float


class Detections(list):
    """A list of :class:`Grasp`, best first, with ``reason`` (why it is empty, else ``None``),
    ``timings`` (ms per stage) and ``num_candidates`` (edges scored)."""

    def __init__(self, grasps: list[Grasp] | None = None, reason: str | None = None, timings: dict | None = None,
                 num_candidates: int = 0, started: float | None = None):
        super().__init__(grasps or [])
        self.reason = reason
        self.timings: dict[str, float] = timings or {}
        if started is not None:
            self.timings["total_ms"] = 1000 * (time.perf_counter() - started)
        self.num_candidates = num_candidates


@dataclass
class GraspDetector:
    """Detects grasps in point clouds. Build one with :meth:`load`.

    Attributes:
        scorer: ``edge``, ``vn-edge``, ``random-edge`` or ``heuristic``.
        model: the network for ``edge`` / ``vn-edge``, else ``None``.
        device: where the cloud is processed.
        voxel_size: downsampling voxel (m).
        gripper: hand geometry.
        meta: free-form information saved with the checkpoint (e.g. training summary).
        precision: the network's arithmetic: ``fp32``, ``bf16`` (autocast: matrix products in bfloat16,
            about twice as fast where the hardware has bf16 units) or ``auto`` (bf16 there, else fp32).
    """

    scorer: str
    model: torch.nn.Module | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    voxel_size: float = 0.0045
    gripper: GripperGeometry = FRANKA_HAND
    meta: dict = field(default_factory=dict)
    precision: str = "fp32"

    def __post_init__(self) -> None:
        self.precision = resolve_precision(self.precision, self.device)
        if self.scorer not in SCORERS:
            raise ValueError(f"unknown grasp scorer {self.scorer!r}; accepted: {', '.join(SCORERS)}")
        if (self.scorer in NET_SCORERS) != (self.model is not None):
            raise ValueError(f"scorer {self.scorer!r} {'needs' if self.scorer in NET_SCORERS else 'takes no'} model")
        if self.model is not None:
            self.model = self.model.to(self.device).eval()

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def load(cls, name_or_path: str | os.PathLike, device: str | torch.device = "auto",
             kind: str | None = None, precision: str = "fp32") -> GraspDetector:
        """A detector by name or from a checkpoint.

        Args:
            name_or_path: ``default`` (the shipped Edge Grasp model), ``vn-edge`` (the shipped VN-Edge
                model), ``random-edge`` (random scores over valid edges), ``heuristic`` (antipodal
                geometry), a checkpoint path (``model.pt`` of ``equimanip grasp train``) or several nets
                joined by ``+`` (``a.pt+b.pt``: an ensemble scoring the mean of their probabilities,
                :mod:`~equimanip.policies.grasp.ensemble`).
            device: ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N``.
            kind: when given, the scorer the checkpoint must hold (a clear error otherwise).
            precision: the network's arithmetic: ``fp32``, ``bf16`` or ``auto`` (see the class).

        Raises:
            ValueError: unknown name, missing file, a file that is not a grasp detector checkpoint,
                or one of another kind than ``kind``.
        """
        dev = resolve_device(device)
        name = str(name_or_path)
        if "+" in name and not Path(name).exists():
            detector = cls._ensemble(name, dev)
        elif name in ("random-edge", "heuristic") and not Path(name).exists():
            detector = cls(scorer=name, device=dev)
        elif name in SHIPPED and not Path(name).exists():
            resource = importlib.resources.files("equimanip.assets") / "grasp" / SHIPPED[name]
            if not resource.is_file():
                raise ValueError(f"the shipped grasp model {name!r} (equimanip/assets/grasp/{SHIPPED[name]}) is not "
                                 "in this install yet: train one with `equimanip grasp train` and pass its model.pt, "
                                 "or use 'heuristic' or 'random-edge'")
            with importlib.resources.as_file(resource) as path:
                detector = cls._from_checkpoint(Path(path), dev)
            if name == "vn-edge" and kind is None:
                kind = "vn-edge"
        else:
            path = Path(name)
            if not path.is_file():
                raise ValueError(f"no grasp detector {name!r}: not a file, and not one of {', '.join(NAMES)}")
            detector = cls._from_checkpoint(path, dev)
        if kind is not None and detector.scorer != kind:
            raise ValueError(f"{name} holds a {detector.scorer!r} grasp detector, not {kind!r}")
        detector.precision = resolve_precision(precision, dev)
        return detector

    @classmethod
    def _ensemble(cls, name: str, device: torch.device) -> GraspDetector:
        from equimanip.policies.grasp.ensemble import EnsembleNet

        members = [cls.load(part, device) for part in name.split("+")]
        not_nets = [part for part, m in zip(name.split("+"), members) if m.model is None]
        if not_nets:
            raise ValueError(f"an ensemble joins trained nets; {', '.join(not_nets)} is not one")
        first = members[0]
        if any(m.voxel_size != first.voxel_size or m.gripper != first.gripper for m in members):
            raise ValueError(f"the nets of ensemble {name} were trained for other voxel sizes or grippers")
        return cls(scorer="ensemble", model=EnsembleNet([m.model for m in members]), device=device,
                   voxel_size=first.voxel_size, gripper=first.gripper, meta={"members": name.split("+")})

    @classmethod
    def _from_checkpoint(cls, path: Path, device: torch.device) -> GraspDetector:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises many types for truncated or foreign files
            raise ValueError(f"{path} is not a readable grasp detector checkpoint ({type(err).__name__}: "
                             f"{str(err).splitlines()[0] if str(err) else ''})") from None
        if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not a grasp detector checkpoint (no '{CHECKPOINT_FORMAT}' format tag); "
                             "pass the model.pt of `equimanip grasp train`")
        if int(data.get("format_version", -1)) > CHECKPOINT_VERSION:
            raise ValueError(f"{path} has checkpoint format {data['format_version']}, newer than this equimanip "
                             f"reads ({CHECKPOINT_VERSION}); upgrade equimanip")
        scorer = data.get("scorer")
        if scorer not in SCORERS:
            raise ValueError(f"{path}: unknown grasp scorer {scorer!r} (accepted: {', '.join(SCORERS)})")
        model = None
        if scorer in MODELS:
            try:
                model = MODELS[scorer](**data["hyper_parameters"])
                model.load_state_dict(data["state_dict"])
            except (KeyError, TypeError, RuntimeError) as err:
                raise ValueError(f"{path}: the {scorer!r} weights do not fit the model ({type(err).__name__}: "
                                 f"{str(err).splitlines()[0]})") from None
        gripper = GripperGeometry(**data.get("gripper", {}))
        return cls(scorer=scorer, model=model, device=device, voxel_size=float(data.get("voxel_size", 0.0045)),
                   gripper=gripper, meta=dict(data.get("meta", {})))

    def checkpoint(self) -> dict[str, Any]:
        """The checkpoint dictionary :meth:`save` writes (kind, hyper-parameters, weights, settings)."""
        from dataclasses import asdict

        data: dict[str, Any] = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
                                "scorer": self.scorer, "voxel_size": self.voxel_size, "gripper": asdict(self.gripper),
                                "meta": self.meta}
        if self.model is not None:
            data["hyper_parameters"] = self.model.hyper_parameters()
            data["state_dict"] = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        return data

    def save(self, path: str | os.PathLike) -> Path:
        """Write the checkpoint atomically (a crash never leaves half a file); returns the path."""
        path = Path(path)
        with atomic_path(path) as tmp:
            torch.save(self.checkpoint(), tmp)
        return path

    # ------------------------------------------------------------------ detection
    def score_edges(self, points: torch.Tensor, normals: torch.Tensor, edge_set: EdgeSet,
                    generator: torch.Generator | None = None, viewpoint=None) -> torch.Tensor:
        """Scores ``(E,)`` of candidate edges of a preprocessed cloud (higher is better); ``viewpoint``: the
        camera position, which a net trained with view rays needs."""
        if len(edge_set) == 0:
            return torch.zeros(0, device=points.device)
        if self.scorer == "random-edge":
            return torch.rand(len(edge_set), generator=generator, device=generator.device if generator else "cpu"
                              ).to(points.device)
        if self.scorer == "heuristic":
            return antipodal_scores(points, normals, edge_set.poses, self.gripper, approach=edge_set.edges[:, 0])
        extra = edge_set.extra if self.max_extra_depth > 0 else None  # a depth-blind net scores Edge Grasp's hand
        with torch.inference_mode(), autocast(self.device, self.precision):
            logits = self.model(points, normals, edge_set.edges, extra=extra, **view_kwargs(self.model, viewpoint))
            return torch.sigmoid(logits.float())

    @property
    def reads_view_rays(self) -> bool:
        """Whether the net reads where each point was seen from (it then needs ``viewpoint``)."""
        return reads_view_rays(self.model)

    @property
    def max_extra_depth(self) -> float:
        """How much deeper than Edge Grasp's construction the net was trained to score hands (m; 0: not at all)."""
        return trained_extra_depth(self.model)

    def detect(self, points, normals=None, *, top_k: int | None = 10, viewpoint=None, table_height: float | None = None,
               num_approach: int = 32, max_edges: int = 4000, seed: int = 0, flat_grasps: bool = True,
               fill_columns: bool = True, clear_approach: bool = False, deepen: float | None = None,
               fill_shadows: float = 0.0, crop_box: tuple[float, float, float, float] | None = None) -> Detections:
        """Grasps in a point cloud, best first.

        Args:
            points: ``(N, 3)`` array-like (m), in a frame whose table plane is ``z = table_height``.
                Non-finite rows are dropped.
            normals: optional ``(N, 3)`` outward normals; estimated (open3d) when ``None``.
            top_k: grasps returned (``None``: all candidates).
            viewpoint: camera position, to orient estimated normals (``None``: towards +z).
            table_height: z of the table plane: points within 5 mm above it are cropped and hands
                that would touch it are pruned. ``None``: no table.
            num_approach: approach points (the paper: 32–64).
            max_edges: candidate cap.
            seed: seeds approach sampling, the cap and ``random-edge`` scores.
            flat_grasps: with a ``table_height``, also try levelled closing axes and, when nothing else
                is left, top-down rim grasps on flat objects whose sides the table crop removes
                (:func:`~equimanip.policies.grasp.edges.sample_edges`; our extension). False: Edge
                Grasp's candidates only.
            fill_columns: with a ``table_height``, also prune hands that reach under a seen upward-facing
                surface, into the inside of the object a single view cannot see (our extension; False: the
                cloud alone).
            clear_approach: also prune hands whose way in from the pre-grasp pose (5 cm back along the
                approach) meets the cloud or the filled columns (our extension).
            deepen: push candidate hands up to this much deeper along their approach (m, in 4 mm steps)
                where they fit clear of the cloud, the filled columns and the table (our extension). A net
                trained on deeper hands (``max_extra_depth`` > 0) scores every depth that fits, at most
                ``max_edges`` (edge, depth) pairs, and the best is returned; for any other scorer each hand
                goes as deep as it fits. ``None``: the net's ``max_extra_depth`` (0 for depth-blind scorers:
                fingertips ``gripper.tip_margin`` past the contact).
            fill_shadows: also prune hands that reach into the first ``fill_shadows`` metres behind a seen
                point, away from the ``viewpoint`` (needed), where the seen object most likely goes on (our
                extension; 0: off).
            crop_box: ``(x_min, y_min, x_max, y_max)`` the cloud was cropped to; with a ``table_height``, also
                prune hands that reach past a wall of it where seen points touch it, into the part of an object
                the crop cut off (our extension; ``None``: off).

        Returns:
            :class:`Detections` (empty, with ``reason``, when nothing graspable is found).

        Raises:
            ValueError: wrong shapes or dtypes, more than ``MAX_POINTS`` points, bad ``top_k``.
        """
        t0 = time.perf_counter()
        points, normals = _validate_cloud(points, normals)
        if top_k is not None and (not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None; got {top_k!r}")
        finite = np.isfinite(points).all(1)
        if normals is not None:
            finite &= np.isfinite(normals).all(1)
        timings: dict[str, float] = {}
        if len(points) == 0:
            return Detections(reason="empty point cloud", timings=timings, started=t0)
        if not finite.any():
            return Detections(reason="no finite points in the cloud", timings=timings, started=t0)
        points = points[finite]
        normals = normals[finite] if normals is not None else None
        p, n = preprocess_cloud(points, normals, voxel_size=self.voxel_size, viewpoint=viewpoint,
                                table_height=table_height)
        t1 = time.perf_counter()
        timings["preprocess_ms"] = 1000 * (t1 - t0)
        if len(p) < MIN_POINTS:
            what = " above the table" if table_height is not None else ""
            return Detections(reason=f"too few points{what} after downsampling ({len(p)} < {MIN_POINTS})",
                              timings=timings, started=t0)
        generator = torch.Generator().manual_seed(int(seed))
        pt = torch.as_tensor(p, device=self.device)
        nt = torch.as_tensor(n, device=self.device)
        scored_depths = self.max_extra_depth > 0
        deepen = self.max_extra_depth if deepen is None else float(deepen)
        edge_set = sample_edges(pt, nt, num_approach=num_approach, max_edges=max_edges, table_height=table_height,
                                generator=generator, gripper=self.gripper, flat_grasps=flat_grasps,
                                fill_columns=fill_columns, clear_approach=clear_approach, deepen=deepen,
                                all_depths=scored_depths, viewpoint=viewpoint, fill_shadows=fill_shadows,
                                crop_box=crop_box)
        if len(edge_set) > max_edges:  # edges repeated per depth: the cap bounds what the net scores
            pick = torch.randperm(len(edge_set), generator=generator)[:max_edges].sort().values
            edge_set = edge_set.subset(pick.to(edge_set.edges.device))
        t2 = time.perf_counter()
        timings["sample_ms"] = 1000 * (t2 - t1)
        if len(edge_set) == 0:
            return Detections(reason="no collision-free grasp candidates", timings=timings, started=t0)
        scores = self.score_edges(pt, nt, edge_set, generator=generator, viewpoint=viewpoint)
        t3 = time.perf_counter()
        timings["score_ms"] = 1000 * (t3 - t2)
        k = len(edge_set) if top_k is None else min(int(top_k), len(edge_set))
        # stable sort: equal scores keep the sampler's order, so results are reproducible
        order = torch.sort(scores.detach().cpu(), descending=True, stable=True).indices[:k]
        poses = edge_set.poses.detach().cpu().double().numpy()
        widths = edge_set.widths.detach().cpu().numpy()
        s = scores.detach().cpu().numpy()
        grasps = [Grasp(pose=poses[i].copy(), width=float(widths[i]), score=float(s[i])) for i in order.tolist()]
        return Detections(grasps, timings=timings, num_candidates=len(edge_set), started=t0)


def _validate_cloud(points, normals) -> tuple[np.ndarray, np.ndarray | None]:
    """Numeric (N, 3) float64 arrays, or a clear ValueError."""
    arrays = []
    for name, value in (("points", points), ("normals", normals)):
        if value is None:
            arrays.append(None)
            continue
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as err:  # ragged nested lists
            raise ValueError(f"{name} must be an (N, 3) numeric array; got an unreadable {type(value).__name__} "
                             f"({err})") from None
        if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"{name} must hold real numbers; got dtype {arr.dtype}")
        if arr.size == 0:
            arr = arr.reshape(0, 3)  # [] and np.zeros((0, 3)) alike: an empty cloud, not a shape error
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise ValueError(f"{name} must have shape (N, 3); got {arr.shape}")
        if len(arr) > MAX_POINTS:
            raise ValueError(f"{name}: {len(arr):,} points is more than the {MAX_POINTS:,} detect() accepts; "
                             "crop or downsample the cloud to the workspace first")
        arrays.append(arr.astype(np.float64, copy=False))
    p, n = arrays
    if n is not None and n.shape != p.shape:
        raise ValueError(f"normals must have the points' shape {p.shape}; got {n.shape}")
    return p, n
