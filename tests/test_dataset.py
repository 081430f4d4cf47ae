"""Demonstration datasets (LeRobot v3.0 layout): collection, exact round trip, meta files, resume
after interruptions and crashes, damaged datasets, robomimic export and the CLI.

Small on purpose: 32 px images and a few short BlockInBowl episodes (≈15 steps each)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from equimanip import collect as collect_module
from equimanip.collect import collect
from equimanip.dataset import Dataset

ENV = "equimanip/BlockInBowl-v0"
OPTIONS = {"image_size": 32, "observations": ["rgb"]}
SEED = 10


def expert_episode(seed: int, **options) -> dict[str, np.ndarray]:
    """The expert's episode, recorded here independently of equimanip.collect."""
    env = gym.make(ENV, **options)
    try:
        u = env.unwrapped
        obs, info = env.reset(seed=seed)
        out: dict[str, list] = {"depth": [], "rgb": [], "holding": [], "proprio": [], "action": [], "reward": [],
                                "done": [], "success": []}
        done = False
        while not done:
            out["depth"].append(obs["depth"].copy())
            out["holding"].append(obs["holding"].copy())
            if "rgb" in obs:
                out["rgb"].append(obs["rgb"].copy())
            out["proprio"].append(u.proprio())
            action = u.expert_action()
            out["action"].append(action)
            obs, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            out["reward"].append(reward)
            out["done"].append(done)
            out["success"].append(info["is_success"])
        return {k: np.array(v) for k, v in out.items() if v}
    finally:
        env.close()


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_same_data(a: Dataset, b: Dataset) -> None:
    assert a.num_episodes == b.num_episodes and a.num_frames == b.num_frames
    fa, fb = a.frames(), b.frames()
    assert fa.keys() == fb.keys()
    for name in fa:
        assert fa[name].dtype == fb[name].dtype and np.array_equal(fa[name], fb[name]), name
    where = ("data/chunk_index", "data/file_index")  # how episodes are packed in files depends on the flushes
    strip = lambda meta: [{k: v for k, v in row.items() if k not in where} for row in meta]
    assert strip(a.episodes_meta()) == strip(b.episodes_meta())


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """3 episodes with RGB, two data files (flush_every=2)."""
    out = tmp_path_factory.mktemp("ds") / "bowl"
    summary = collect(ENV, 3, SEED, out, env_options=OPTIONS, progress=False, flush_every=2)
    assert summary["episodes"] == summary["new_episodes"] == 3
    assert summary["env_steps_per_second"] > 0 and summary["frames"] == summary["new_frames"]
    return out


@pytest.fixture(scope="module")
def reference6(tmp_path_factory) -> Path:
    """6 episodes without RGB, recorded in one go (flush_every=2)."""
    out = tmp_path_factory.mktemp("ref") / "six"
    collect(ENV, 6, 0, out, env_options={"image_size": 32}, progress=False, flush_every=2)
    return out


# ------------------------------------------------------------------------------------------------
def test_round_trip_is_bit_exact(recorded):
    ds = Dataset.open(recorded)
    assert ds.env_id == ENV and ds.env_options == OPTIONS and ds.num_episodes == 3
    frames, offset = ds.frames(), 0
    for i in range(ds.num_episodes):
        ep = ds.episode(i)
        ref = expert_episode(SEED + i, **OPTIONS)
        T = len(ref["action"])
        assert ep["seed"] == SEED + i and ep["length"] == T and ep["episode_index"] == i
        assert ep["success"] == bool(ref["success"][-1])
        assert ep["observation.images.depth"].dtype == np.float32 and ep["observation.images.depth"].shape == (T, 1, 32, 32)
        assert np.array_equal(ep["observation.images.depth"], ref["depth"])  # exact floats, not a video
        assert ep["observation.images.rgb"].dtype == np.uint8 and np.array_equal(ep["observation.images.rgb"], ref["rgb"])
        assert np.array_equal(ep["observation.holding"], ref["holding"])
        assert np.array_equal(ep["observation.state"], ref["proprio"])
        assert ep["action"].dtype == np.float32 and np.array_equal(ep["action"], ref["action"])
        assert np.array_equal(ep["next.reward"][:, 0], ref["reward"].astype(np.float32))
        assert np.array_equal(ep["next.done"][:, 0], ref["done"]) and ep["next.done"][-1, 0]
        assert np.array_equal(ep["next.success"][:, 0], ref["success"])
        assert np.array_equal(ep["frame_index"][:, 0], np.arange(T))
        assert np.allclose(ep["timestamp"][:, 0], np.arange(T) / 10)
        assert np.array_equal(ep["index"][:, 0], np.arange(offset, offset + T))
        for name in ds.features:  # frames() is the episodes, concatenated
            if name != "episode_index":
                assert np.array_equal(frames[name][offset:offset + T], ep[name]), name
        assert np.all(frames["episode_index"][offset:offset + T] == i)
        offset += T
    assert offset == ds.num_frames
    obs = ds.observations(ds.episode(0))
    assert set(obs) == {"depth", "rgb", "holding"}
    ep = ds.episode(-1)
    assert ep["episode_index"] == 2
    ep["action"][0, 0] = 5.0  # writable arrays
    with pytest.raises(IndexError):
        ds.episode(3)


def test_meta_files_follow_lerobot_v3(recorded):
    info = json.loads((recorded / "meta/info.json").read_text())
    ds = Dataset.open(recorded)
    assert info["codebase_version"] == "v3.0" and info["robot_type"] == "panda" and info["fps"] == 10
    assert info["total_episodes"] == 3 and info["total_frames"] == ds.num_frames and info["total_tasks"] == 1
    assert info["chunks_size"] == 1000 and info["data_files_size_in_mb"] > 0
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] is None and info["splits"] == {"train": "0:3"}
    f = info["features"]
    assert list(f) == ["observation.images.depth", "observation.images.rgb", "observation.holding", "observation.state",
                       "action", "next.reward", "next.done", "next.success", "timestamp", "frame_index", "episode_index",
                       "index", "task_index"]
    assert f["observation.images.depth"] == {"dtype": "float32", "shape": [1, 32, 32], "names": ["channels", "height", "width"]}
    assert f["observation.images.rgb"]["dtype"] == "uint8" and f["observation.images.rgb"]["shape"] == [3, 32, 32]
    assert f["observation.holding"]["shape"] == [1] and f["observation.state"]["shape"] == [9]
    env = gym.make(ENV, image_size=32)
    assert f["observation.state"]["names"] == list(env.unwrapped.PROPRIO_NAMES)
    env.close()
    assert f["action"] == {"dtype": "float32", "shape": [5], "names": ["p", "dx", "dy", "dz", "dtheta"]}
    assert f["next.done"]["dtype"] == f["next.success"]["dtype"] == "bool"
    assert all(f[k] == {"dtype": "int64", "shape": [1], "names": None} for k in ("frame_index", "episode_index", "index",
                                                                                  "task_index"))
    eq = info["equimanip"]
    assert eq["env_id"] == ENV and eq["env_options"] == OPTIONS and eq["seed"] == SEED and eq["expert"] == "scripted"
    assert eq["observation_layout"]["depth"]["shape"] == [1, 32, 32] and "rgb" in eq["observation_layout"]
    assert eq["version"]

    tasks = pq.read_table(recorded / "meta/tasks.parquet").to_pylist()
    assert tasks == [{"task_index": 0, "task": "Put the cube into the bowl."}]
    episodes = pq.read_table(recorded / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [e["episode_index"] for e in episodes] == [0, 1, 2]
    assert [e["seed"] for e in episodes] == [SEED, SEED + 1, SEED + 2]
    assert [(e["data/chunk_index"], e["data/file_index"]) for e in episodes] == [(0, 0), (0, 0), (0, 1)]
    assert episodes[0]["dataset_from_index"] == 0 and episodes[-1]["dataset_to_index"] == ds.num_frames
    assert all(e["tasks"] == ["Put the cube into the bowl."] for e in episodes)
    assert sorted(p.name for p in (recorded / "data/chunk-000").iterdir()) == ["file-000.parquet", "file-001.parquet"]
    schema = pq.read_schema(recorded / "data/chunk-000/file-000.parquet")
    depth_type = schema.field("observation.images.depth").type
    assert pa.types.is_fixed_size_list(depth_type) and depth_type.list_size == 32 * 32
    assert depth_type.value_type == pa.float32() and schema.field("next.reward").type == pa.float32()

    stats = json.loads((recorded / "meta/stats.json").read_text())
    frames = ds.frames()
    assert set(stats) == set(f)
    for s in stats.values():
        assert set(s) == {"min", "max", "mean", "std", "count"} and s["count"] == [ds.num_frames]
    depth = frames["observation.images.depth"].astype(np.float64)
    assert np.array(stats["observation.images.depth"]["mean"]).shape == (1, 1, 1)  # per channel
    assert np.isclose(stats["observation.images.depth"]["mean"][0][0][0], depth.mean())
    assert np.isclose(stats["observation.images.depth"]["std"][0][0][0], depth.std())
    assert np.allclose(stats["action"]["mean"], frames["action"].astype(np.float64).mean(0))
    assert np.allclose(stats["observation.state"]["std"], frames["observation.state"].astype(np.float64).std(0))
    assert stats["action"]["min"] == frames["action"].min(0).astype(np.float64).tolist()


def test_workers_give_the_same_data(tmp_path, recorded):
    summary = collect(ENV, 3, SEED, tmp_path / "w2", env_options=OPTIONS, workers=2, progress=False, flush_every=2)
    assert summary["episodes"] == 3 and summary["workers"] == 2
    assert_same_data(Dataset.open(recorded), Dataset.open(tmp_path / "w2"))
    assert files_of(recorded / "data") == files_of(tmp_path / "w2" / "data")


def test_resume_adds_the_missing_episodes_only(tmp_path, reference6):
    out = tmp_path / "ds"
    collect(ENV, 3, 0, out, env_options={"image_size": 32}, progress=False, flush_every=2)
    again = collect(ENV, 3, 0, out, env_options={"image_size": 32}, progress=False)  # already complete
    assert again["new_episodes"] == 0 and again["episodes"] == 3
    summary = collect(ENV, 6, 0, out, env_options={"image_size": 32}, progress=False, flush_every=2)
    assert summary["new_episodes"] == 3 and summary["episodes"] == 6
    ds = Dataset.open(out)
    assert [e["seed"] for e in ds.episodes_meta()] == list(range(6))
    assert_same_data(ds, Dataset.open(reference6))


def test_an_interrupted_run_keeps_its_finished_episodes_and_resumes(tmp_path, monkeypatch, reference6):
    out = tmp_path / "ds"
    real = collect_module.record_episode

    def stop_at_seed_3(env, seed):
        if seed == 3:
            raise KeyboardInterrupt
        return real(env, seed)

    monkeypatch.setattr(collect_module, "record_episode", stop_at_seed_3)
    with pytest.raises(KeyboardInterrupt):
        collect(ENV, 6, 0, out, env_options={"image_size": 32}, progress=False, flush_every=2)
    monkeypatch.setattr(collect_module, "record_episode", real)
    assert Dataset.open(out).num_episodes == 3  # 0-1 flushed, 2 written on the way out
    collect(ENV, 6, 0, out, env_options={"image_size": 32}, progress=False, flush_every=2)
    assert_same_data(Dataset.open(out), Dataset.open(reference6))


def test_a_crash_between_writes_leaves_a_valid_dataset_and_is_repaired(tmp_path, reference6):
    out = tmp_path / "ds"
    collect(ENV, 2, 0, out, env_options={"image_size": 32}, progress=False, flush_every=2)
    committed = {name: (out / "meta" / name).read_bytes() for name in ("info.json", "stats.json")}
    collect(ENV, 4, 0, out, env_options={"image_size": 32}, progress=False, flush_every=2)
    # a crash after data and meta/episodes were written for episodes 2-3 but before the commit
    for name, content in committed.items():
        (out / "meta" / name).write_bytes(content)
    chunk = out / "data/chunk-000"
    (chunk / ".file-002.parquet.x1y2z3.parquet").write_bytes(b"half a file")  # a temporary file of a dead write
    (out / "meta" / ".info.json.abc123.json").write_text("{")
    shutil.copy(chunk / "file-000.parquet", chunk / "file-007.parquet")  # a data file nothing references
    ds = Dataset.open(out)
    assert ds.num_episodes == 2 and [e["seed"] for e in ds.episodes_meta()] == [0, 1]
    ds.frames()
    collect(ENV, 6, 0, out, env_options={"image_size": 32}, progress=False, flush_every=2)
    assert sorted(p.name for p in chunk.iterdir()) == ["file-000.parquet", "file-001.parquet", "file-002.parquet"]
    assert not list((out / "meta").glob(".*"))
    assert_same_data(Dataset.open(out), Dataset.open(reference6))


@pytest.mark.parametrize("env_id,options,seed,message", [
    ("equimanip/BlockPicking-v0", {"image_size": 32}, 0, "env: 'equimanip/BlockInBowl-v0' there"),
    (ENV, {"image_size": 64}, 0, "image_size: 32 there, 64 here"),
    (ENV, {"image_size": 32, "camera": "side"}, 0, "camera"),
    (ENV, {"image_size": 32}, 1, "seed: 0 there, 1 here"),
])
def test_other_settings_for_an_existing_dataset_are_refused(tmp_path, env_id, options, seed, message):
    out = tmp_path / "ds"
    collect(ENV, 1, 0, out, env_options={"image_size": 32}, progress=False)
    before = files_of(out)
    with pytest.raises(ValueError, match="recorded with other settings") as err:
        collect(env_id, 2, seed, out, env_options=options, progress=False)
    assert message in str(err.value)
    assert files_of(out) == before


def test_check_compatible(recorded):
    ds = Dataset.open(recorded)
    ds.check_compatible(ENV, OPTIONS)
    ds.check_compatible("BlockInBowl-v0", {"image_size": 32, "observations": ("rgb",), "corruptions": ("lighting",)})
    with pytest.raises(ValueError, match="recorded on equimanip/BlockInBowl-v0, not equimanip/BlockPicking-v0"):
        ds.check_compatible("BlockPicking-v0", OPTIONS)
    with pytest.raises(ValueError, match="image_size: dataset 32, env 64"):
        ds.check_compatible(ENV, {**OPTIONS, "image_size": 64})
    with pytest.raises(ValueError, match="camera: dataset 'gripper_topdown', env 'side'"):
        ds.check_compatible(ENV, {**OPTIONS, "camera": "side"})
    with pytest.raises(ValueError, match="observations"):
        ds.check_compatible(ENV, {"image_size": 32})  # no rgb
    with pytest.raises(ValueError, match="unknown environment"):
        ds.check_compatible("Nope-v0", {})


def test_collect_refuses_bad_input(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a dataset"):
        collect(ENV, 1, 0, tmp_path / "full", env_options={"image_size": 32}, progress=False)
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine"
    for kwargs, message in [({"episodes": 0}, "episodes must be"), ({"seed": -1}, "seed must be"),
                            ({"workers": 0}, "workers must be"), ({"env_options": {"colour": "red"}}, "unknown option"),
                            ({"env_options": {"image_size": 32, "view_size": object()}}, "JSON")]:
        args = {"env_id": ENV, "episodes": 1, "seed": 0, "out": tmp_path / "new", "env_options": {"image_size": 32},
                "progress": False, **kwargs}
        with pytest.raises(ValueError, match=message):
            collect(**args)
    assert not (tmp_path / "new").exists()


def test_damaged_datasets_give_clear_errors(tmp_path, recorded):
    with pytest.raises(ValueError, match="does not exist"):
        Dataset.open(tmp_path / "nothing")
    (tmp_path / "bare").mkdir()
    with pytest.raises(ValueError, match="meta/info.json is missing"):
        Dataset.open(tmp_path / "bare")

    def damaged(name: str) -> Path:
        copy = tmp_path / name
        shutil.copytree(recorded, copy)
        return copy

    old = damaged("old")
    info = json.loads((old / "meta/info.json").read_text())
    (old / "meta/info.json").write_text(json.dumps({**info, "codebase_version": "v2.1"}))
    with pytest.raises(ValueError, match="codebase_version is 'v2.1'"):
        Dataset.open(old)

    truncated = damaged("truncated")
    data = truncated / "data/chunk-000/file-000.parquet"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"file-000\.parquet: cannot read this parquet file \(truncated or corrupt"):
        Dataset.open(truncated)

    flipped = damaged("flipped")  # same size, bytes changed inside a data page: caught by the page checksums
    data = flipped / "data/chunk-000/file-001.parquet"
    raw = bytearray(data.read_bytes())
    for k in range(200, 264):
        raw[k] ^= 0xFF
    data.write_bytes(bytes(raw))
    ds = Dataset.open(flipped)
    with pytest.raises(ValueError, match=r"file-001\.parquet"):
        ds.episode(2)

    episodes = damaged("episodes")
    meta = episodes / "meta/episodes/chunk-000/file-000.parquet"
    meta.write_bytes(meta.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"meta/episodes/chunk-000/file-000\.parquet: cannot read"):
        Dataset.open(episodes)

    missing = damaged("missing")
    (missing / "data/chunk-000/file-001.parquet").unlink()
    with pytest.raises(ValueError, match=r"file-001\.parquet is missing"):
        Dataset.open(missing)

    frames = damaged("frames")
    info = json.loads((frames / "meta/info.json").read_text())
    (frames / "meta/info.json").write_text(json.dumps({**info, "total_frames": info["total_frames"] + 1}))
    with pytest.raises(ValueError, match="total_frames"):
        Dataset.open(frames)

    broken = damaged("json")
    (broken / "meta/info.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot read it as JSON"):
        Dataset.open(broken)


def test_an_empty_dataset_is_refused(tmp_path, monkeypatch):
    def crash(env, seed):
        raise RuntimeError("simulator died")

    monkeypatch.setattr(collect_module, "record_episode", crash)
    with pytest.raises(RuntimeError):
        collect(ENV, 2, 0, tmp_path / "ds", env_options={"image_size": 32}, progress=False)
    with pytest.raises(ValueError, match="empty"):
        Dataset.open(tmp_path / "ds")


def test_robomimic_export(tmp_path, recorded):
    import h5py

    from equimanip.robomimic import export_robomimic

    ds = Dataset.open(recorded)
    result = export_robomimic(recorded, tmp_path / "demos.hdf5")
    assert result["demos"] == 3 and result["samples"] == ds.num_frames
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demos.hdf5"]  # no temporary file left
    with h5py.File(tmp_path / "demos.hdf5", "r") as f:
        data = f["data"]
        assert data.attrs["total"] == ds.num_frames
        env_args = json.loads(data.attrs["env_args"])
        assert env_args == {"env_name": ENV, "type": 2, "env_kwargs": OPTIONS}
        assert sorted(data) == ["demo_0", "demo_1", "demo_2"]
        assert [m.decode() for m in f["mask/train"][:]] == ["demo_0", "demo_1", "demo_2"]
        for i in range(3):
            ep, demo = ds.episode(i), data[f"demo_{i}"]
            T = ep["length"]
            assert demo.attrs["num_samples"] == T
            assert demo["actions"].shape == (T, 5) and np.array_equal(demo["actions"][:], ep["action"])
            assert np.array_equal(demo["rewards"][:], ep["next.reward"][:, 0])
            assert demo["dones"][:].tolist() == [0] * (T - 1) + [1]
            depth = demo["obs/depth"][:]
            assert depth.dtype == np.float32 and depth.shape == (T, 1, 32, 32)
            assert np.array_equal(depth, ep["observation.images.depth"])
            assert np.array_equal(demo["obs/holding"][:], ep["observation.holding"])
            assert np.array_equal(demo["obs/proprio"][:], ep["observation.state"])
            assert np.array_equal(demo["obs/rgb"][:], ep["observation.images.rgb"])
            for key in ("depth", "holding", "proprio", "rgb"):
                obs, nxt = demo[f"obs/{key}"][:], demo[f"next_obs/{key}"][:]
                assert np.array_equal(nxt[:-1], obs[1:]) and np.array_equal(nxt[-1], obs[-1])


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "equimanip", *args], capture_output=True, text=True, timeout=300)


def test_cli_collect_and_export(tmp_path):
    out = tmp_path / "ds"
    r = run_cli("collect", "--env", "BlockInBowl-v0", "--episodes", "2", "--seed", "4", "--out", str(out),
                "--option", "image_size=32", "--camera", "fixed_topdown", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 1
    assert "2 episodes of equimanip/BlockInBowl-v0 (seeds 4-5; 2 new" in r.stdout and "expert success" in r.stdout
    ds = Dataset.open(out)
    assert ds.env_options == {"image_size": 32, "camera": "fixed_topdown"} and ds.num_episodes == 2
    assert "observation.images.rgb" not in ds.features
    r = run_cli("collect", "--env", "BlockInBowl-v0", "--episodes", "2", "--seed", "4", "--out", str(out),
                "--option", "image_size=64", "--no-progress")
    assert r.returncode == 2 and "recorded with other settings" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("export", "--dataset", str(out), "--format", "robomimic", "--out", str(tmp_path / "d.hdf5"))
    assert r.returncode == 0, r.stderr
    assert "2 demos" in r.stdout and (tmp_path / "d.hdf5").stat().st_size > 0
    r = run_cli("export", "--dataset", str(out), "--format", "zarr", "--out", str(tmp_path / "d.zarr"))
    assert r.returncode == 2 and "unknown format 'zarr'; accepted: robomimic" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("export", "--dataset", str(tmp_path / "none"), "--format", "robomimic", "--out", str(tmp_path / "x.hdf5"))
    assert r.returncode == 2 and "does not exist" in r.stderr and not (tmp_path / "x.hdf5").exists()
    for command, flags in (("collect", ("--env", "--episodes", "--seed", "--out", "--workers", "--camera", "--option",
                                        "--no-progress")), ("export", ("--dataset", "--format", "--out"))):
        r = run_cli(command, "--help")
        assert r.returncode == 0 and all(flag in r.stdout for flag in flags)
