"""Export a dataset (:mod:`equimanip.dataset`) to robomimic's HDF5 layout.

::

    data                      attrs: total (frames), env_args (JSON: env_name, type 2 = gym, env_kwargs)
    data/demo_<i>             attrs: num_samples, seed, success (episode i of the dataset)
        actions               (T, 5) float32: p, dx, dy, dz, dtheta
        rewards               (T,) float32
        dones                 (T,) int64 (1 on the last step)
        obs/depth             (T, 1, S, S) float32 (exact, channel first)
        obs/holding           (T, 1) float32
        obs/proprio           (T, 9) float32 (``env.proprio()``)
        obs/rgb, obs/point_cloud, obs/object   when the dataset has them (object: privileged state)
        next_obs/<key>        obs shifted by one step; the last step repeats the last observation,
                              since the dataset (like LeRobot) does not keep an episode's final one
    mask/train                every demo's name (bytes)

``states`` (simulator states) are not exported: the episodes are replayed from their seeds instead.
Images stay channel first as in the dataset; robomimic's default image processing expects
channel-last frames, so configure (or transpose) them when training with robomimic.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from equimanip.atomic import atomic_path
from equimanip.dataset import Dataset

__all__ = ["EXPORT_FORMATS", "ROBOMIMIC_OBS_KEYS", "export_robomimic"]

EXPORT_FORMATS = ("robomimic",)
GYM_ENV_TYPE = 2  # robomimic.envs.env_base.EnvType.GYM_TYPE
ROBOMIMIC_OBS_KEYS = {
    "observation.images.depth": "depth",
    "observation.images.rgb": "rgb",
    "observation.holding": "holding",
    "observation.state": "proprio",
    "observation.point_cloud": "point_cloud",
    "observation.environment_state": "object",
}


def _obs_key(feature: str) -> str | None:
    if feature in ROBOMIMIC_OBS_KEYS:
        return ROBOMIMIC_OBS_KEYS[feature]
    if feature.startswith("observation."):
        return feature.removeprefix("observation.").replace(".", "_")
    return None


def export_robomimic(dataset_path: str | os.PathLike, out_hdf5: str | os.PathLike) -> dict[str, Any]:
    """Write the dataset at ``dataset_path`` as a robomimic HDF5 file (atomically: a temporary file
    renamed into place). Returns ``{"out", "demos", "samples", "obs_keys"}``."""
    import h5py

    dataset = Dataset.open(dataset_path)
    out = Path(out_hdf5)
    if out.is_dir():
        raise ValueError(f"{out} is a folder; give the path of the .hdf5 file to write")
    obs_keys = {f: k for f in dataset.features if (k := _obs_key(f)) is not None}
    names, total = [], 0
    with atomic_path(out) as tmp:
        with h5py.File(tmp, "w") as f:
            data = f.create_group("data")
            for i in range(dataset.num_episodes):
                ep = dataset.episode(i)
                name = f"demo_{i}"
                demo = data.create_group(name)
                demo.attrs["num_samples"] = int(ep["length"])
                demo.attrs["seed"] = int(ep["seed"])
                demo.attrs["success"] = bool(ep["success"])
                demo.create_dataset("actions", data=ep["action"])
                demo.create_dataset("rewards", data=ep["next.reward"][:, 0])
                demo.create_dataset("dones", data=ep["next.done"][:, 0].astype(np.int64))
                for feature, key in obs_keys.items():
                    x = ep[feature]
                    demo.create_dataset(f"obs/{key}", data=x)
                    demo.create_dataset(f"next_obs/{key}", data=np.concatenate([x[1:], x[-1:]]))
                names.append(name)
                total += int(ep["length"])
            data.attrs["total"] = total
            data.attrs["env_args"] = json.dumps({"env_name": dataset.env_id, "type": GYM_ENV_TYPE,
                                                 "env_kwargs": dataset.env_options})
            f.create_dataset("mask/train", data=np.array([n.encode() for n in names], dtype="S"))
    return {"out": str(out), "demos": len(names), "samples": total, "obs_keys": list(obs_keys.values())}
