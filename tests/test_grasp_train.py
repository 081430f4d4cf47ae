"""Grasp scorer training: the CLI end to end, checkpoints and bit-for-bit resume, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from equimanip.agents import grasp_train
from equimanip.agents.grasp_dataset import shard_path, write_meta, write_shard
from equimanip.agents.grasp_train import random_rotation, train_grasp
from equimanip.policies.grasp.detector import GraspDetector
from equimanip.policies.grasp.edges import preprocess_cloud, sample_edges
from equimanip.policies.grasp.heuristic import antipodal_scores
from equimanip.policies.grasp.synthetic import box_cloud

FAST = {"batch_scenes": 2, "edges_per_scene": 16, "val_every": 2, "checkpoint_every": 2, "progress": False,
        "model_kwargs": {"max_ball_points": 48}}


def make_box_dataset(folder: Path, scenes: int = 6, seed: int = 0) -> Path:
    """Boxes of random size and pose; an edge's label is a simple geometric rule (antipodal score > 0.8)."""
    rng = np.random.default_rng(seed)
    out = []
    for s in range(scenes):
        size = tuple(rng.uniform([0.03, 0.03, 0.04], [0.06, 0.06, 0.08]))
        p, n = box_cloud(size, 0.004, centre=tuple(rng.uniform(-0.03, 0.03, 2)), yaw=float(rng.uniform(0, np.pi)))
        p, n = preprocess_cloud(p, n)
        edges = sample_edges(p, n, num_approach=8, max_edges=80, table_height=0.0,
                             generator=torch.Generator().manual_seed(s))
        labels = antipodal_scores(torch.as_tensor(p), torch.as_tensor(n), edges.poses) > 0.8
        out.append({"points": p, "normals": n, "edges": edges.edges.numpy(), "labels": labels.numpy().astype(np.uint8),
                    "scene_seed": s})
    write_shard(shard_path(folder, 0), out[: scenes // 2])
    write_shard(shard_path(folder, 1), out[scenes // 2:])
    write_meta(folder, source="test boxes")
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_box_dataset(tmp_path_factory.mktemp("grasp_data"))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "equimanip", "grasp", "train", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)


def test_the_dataset_has_both_labels(data):
    from equimanip.agents.grasp_dataset import read_shards

    labels = np.concatenate([s["labels"] for s in read_shards(data)])
    assert 0 < labels.mean() < 1


def test_cli_trains_writes_the_run_and_resumes(data, tmp_path, capsys):
    run = tmp_path / "run"
    common = ["--data", str(data), "--model", "vn-edge", "--out", str(run), "--batch-scenes", "2",
              "--edges-per-scene", "8", "--val-every", "2", "--checkpoint-every", "2", "--no-progress", "--device", "cpu"]
    first = _cli(*common, "--steps", "2")
    assert first.returncode == 0, first.stderr
    for name in ("config.json", "checkpoint.pt", "model.pt", "curve.png", "summary.json"):
        assert (run / name).is_file(), name
    assert list((run / "tb").glob("events.out.tfevents.*"))
    from equimanip.cli import main  # the resume in-process: one subprocess start is enough

    assert main(["grasp", "train", *common, "--steps", "3", "--resume"]) == 0
    assert "trained to step 3" in capsys.readouterr().out
    detector = GraspDetector.load(run / "model.pt", device="cpu", kind="vn-edge")
    found = detector.detect(*box_cloud((0.05, 0.04, 0.06), 0.003), top_k=5)
    assert len(found) == 5 and 0.0 <= found[-1].score <= found[0].score <= 1.0


def test_refuses_a_missing_dataset_in_one_line(tmp_path, capsys):
    from equimanip.cli import main

    assert main(["grasp", "train", "--data", str(tmp_path / "nowhere"), "--model", "edge", "--out",
                 str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_refuses_an_unknown_model(data, tmp_path, capsys):
    from equimanip.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["grasp", "train", "--data", str(data), "--model", "pointnet", "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_net_options_set_the_saved_network(data, tmp_path, capsys):
    from equimanip.cli import main

    run = tmp_path / "run"
    assert main(["grasp", "train", "--data", str(data), "--model", "edge", "--out", str(run), "--steps", "2",
                 "--batch-scenes", "2", "--edges-per-scene", "16", "--no-progress",
                 "--net", "radius=0.05", "max_ball_points=40", "conv_channels=16,32,64"]) == 0
    detector = GraspDetector.load(str(run / "model.pt"))
    c = detector.model.config
    assert (c.radius, c.max_ball_points, c.conv_channels) == (0.05, 40, (16, 32, 64))
    assert json.loads((run / "config.json").read_text())["model_kwargs"]["max_ball_points"] == 40


@pytest.mark.parametrize("net, message", [(["radius"], "KEY=VALUE"), (["radius=wide"], "not a number"),
                                          (["width=3"], "unknown edge network setting"),
                                          (["max_extra_depth=0.01"], "unknown edge network setting")])
def test_bad_net_options_are_one_line_errors(data, tmp_path, capsys, net, message):
    from equimanip.cli import main

    assert main(["grasp", "train", "--data", str(data), "--model", "edge", "--out", str(tmp_path / "run"),
                 "--net", *net]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def _weights(run: Path) -> dict:
    return torch.load(run / "model.pt", weights_only=True)["state_dict"]


def test_resume_after_an_interruption_is_bit_for_bit(data, tmp_path, monkeypatch):
    straight = tmp_path / "straight"
    train_grasp(data, model="edge", out=straight, steps=4, **FAST)

    interrupted = tmp_path / "interrupted"
    real_step = grasp_train._train_step

    def crash_at_step_3(*args, **kwargs):
        if args[5] == 3:  # the step index
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(grasp_train, "_train_step", crash_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        train_grasp(data, model="edge", out=interrupted, steps=4, **FAST)
    assert (interrupted / "checkpoint.pt").exists() and not (interrupted / "model.pt").exists()
    monkeypatch.setattr(grasp_train, "_train_step", real_step)
    summary = train_grasp(data, model="edge", out=interrupted, steps=4, resume=True, **FAST)
    assert summary["resumed_from"] == 2
    a, b = _weights(straight), _weights(interrupted)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    hist_a = torch.load(straight / "checkpoint.pt", weights_only=True)["history"]["loss"]
    hist_b = torch.load(interrupted / "checkpoint.pt", weights_only=True)["history"]["loss"]
    assert hist_a == hist_b


def test_refuses_a_non_empty_run_directory_without_resume(data, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "something").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        train_grasp(data, model="edge", out=tmp_path / "run", steps=1, **FAST)


def test_refuses_to_resume_another_model_kind(data, tmp_path):
    train_grasp(data, model="edge", out=tmp_path / "run", steps=1, **FAST)
    with pytest.raises(ValueError, match="is a run of model 'edge'"):
        train_grasp(data, model="vn-edge", out=tmp_path / "run", steps=2, resume=True, **FAST)


def test_refuses_to_resume_on_other_data(data, tmp_path):
    train_grasp(data, model="edge", out=tmp_path / "run", steps=1, **FAST)
    other = make_box_dataset(tmp_path / "other", scenes=4, seed=1)
    with pytest.raises(ValueError, match="was trained on"):
        train_grasp(other, model="edge", out=tmp_path / "run", steps=2, resume=True, **FAST)


def test_refuses_labels_of_one_class(tmp_path):
    p, n = preprocess_cloud(*box_cloud())
    write_shard(shard_path(tmp_path / "d", 0), [{"points": p, "normals": n, "edges": np.array([[0, 1]]),
                                                 "labels": np.array([1]), "scene_seed": 0}])
    with pytest.raises(ValueError, match="nothing to learn"):
        train_grasp(tmp_path / "d", model="edge", out=tmp_path / "run", steps=1, **FAST)


@pytest.mark.parametrize("option, value", [("steps", 0), ("lr", -1.0), ("batch_scenes", 0), ("val_fraction", 0.9)])
def test_bad_settings_are_refused(data, tmp_path, option, value):
    kwargs = {**FAST, option: value}
    with pytest.raises(ValueError, match=option):
        train_grasp(data, model="edge", out=tmp_path / "run", **({"steps": 1} | kwargs))


def test_random_rotations_are_proper_and_seeded():
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    r = random_rotation(g1, torch.float64)
    assert torch.allclose(r.T @ r, torch.eye(3, dtype=torch.float64)) and torch.linalg.det(r) > 0
    assert torch.equal(r, random_rotation(g2, torch.float64))


@pytest.mark.slow
@pytest.mark.parametrize("model", ["edge", "vn-edge"])
def test_training_beats_chance_on_box_labels(tmp_path, model):
    """A short run learns the geometric labelling rule: held-out balanced accuracy well above 0.5."""
    data = make_box_dataset(tmp_path / "data", scenes=40, seed=3)
    summary = train_grasp(data, model=model, out=tmp_path / "run", steps=400, lr=1e-3, batch_scenes=4, seed=0,
                          progress=False, val_every=400, checkpoint_every=400, val_fraction=0.25)
    assert summary["val"]["balanced_accuracy"] > 0.6, summary["val"]


def test_trains_on_several_data_folders_together(data, tmp_path):
    other = make_box_dataset(tmp_path / "other", scenes=4, seed=1)
    summary = train_grasp([data, other], model="edge", out=tmp_path / "run", steps=1, **FAST)
    assert summary["data"]["scenes"] == 6 + 4
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data"].split(os.pathsep) == [str(data), str(other)]
    with pytest.raises(ValueError, match="was trained on"):  # resuming on one of them only is another dataset
        train_grasp(data, model="edge", out=tmp_path / "run", steps=2, resume=True, **FAST)


def test_a_copied_run_resumes_where_it_now_is(data, tmp_path):
    import json
    import shutil

    train_grasp(data, model="edge", out=tmp_path / "run", steps=1, **FAST)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").iterdir()}
    shutil.copytree(tmp_path / "run", tmp_path / "copy")
    summary = train_grasp(data, model="edge", out=tmp_path / "copy", steps=2, resume=True, **FAST)
    assert summary["resumed_from"] == 1
    assert json.loads((tmp_path / "copy" / "config.json").read_text())["out"] == str(tmp_path / "copy")
    assert torch.load(tmp_path / "copy" / "checkpoint.pt", weights_only=True)["step"] == 2
    # the original run is untouched
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").iterdir()} == before


def test_a_net_trained_on_deeper_hands_scores_every_depth_at_detection(tmp_path):
    folder = tmp_path / "deep"
    scenes = []
    for s in range(4):
        p, n = preprocess_cloud(*box_cloud((0.05, 0.04, 0.06), 0.004, yaw=0.3 * s))
        es = sample_edges(p, n, num_approach=8, max_edges=40, table_height=0.0, generator=torch.Generator().manual_seed(s),
                          deepen=0.008, all_depths=True)
        labels = (es.extra > 0.002).numpy().astype(np.uint8)  # deeper holds: a rule only depth can tell
        scenes.append({"points": p, "normals": n, "edges": es.edges.numpy(), "labels": labels,
                       "extra": es.extra.numpy(), "scene_seed": s})
    write_shard(shard_path(folder, 0), scenes)
    write_meta(folder, source="test boxes, deeper hands")
    train_grasp(folder, model="edge", out=tmp_path / "run", steps=2, **FAST)
    detector = GraspDetector.load(tmp_path / "run" / "model.pt", device="cpu")
    assert detector.max_extra_depth == pytest.approx(0.008)
    cloud = box_cloud((0.05, 0.04, 0.06), 0.004)
    every = detector.detect(*cloud, top_k=None, table_height=0.0)
    only_edge_grasp_depth = detector.detect(*cloud, top_k=None, table_height=0.0, deepen=0.0)
    assert len(only_edge_grasp_depth) < len(every)  # each edge offered at every depth that fits
    assert len(detector.detect(*cloud, top_k=None, table_height=0.0, max_edges=30)) == 30  # the cap holds for pairs


def test_a_net_with_view_rays_needs_viewpoints_and_the_detector_passes_them(data, tmp_path):
    from equimanip.agents.grasp_dataset import read_shards

    rays = {**FAST, "model_kwargs": {"max_ball_points": 48, "view_rays": 1}}
    with pytest.raises(ValueError, match="view_rays needs the camera position of every scene"):
        train_grasp(data, model="edge", out=tmp_path / "blind", steps=1, **rays)
    assert not (tmp_path / "blind").exists()
    seen = tmp_path / "seen"
    scenes = [{**s, "viewpoint": [0.0, -0.3, 0.52]} for s in read_shards(data)]
    write_shard(shard_path(seen, 0), scenes)
    write_meta(seen, source="test boxes seen from a camera")
    train_grasp(seen, model="edge", out=tmp_path / "run", steps=2, **rays)
    detector = GraspDetector.load(str(tmp_path / "run" / "model.pt"))
    assert detector.reads_view_rays
    p, n = box_cloud((0.05, 0.04, 0.06))
    found = detector.detect(p, n, top_k=3, table_height=0.0, viewpoint=(0.0, -0.3, 0.52))
    assert len(found) == 3
    with pytest.raises(ValueError, match="pass the camera position"):
        detector.detect(p, n, top_k=3, table_height=0.0)


def test_an_ensemble_scores_the_mean_probability_of_its_nets(data, tmp_path):
    from equimanip.policies.grasp.ensemble import EnsembleNet

    for seed in (0, 1):
        train_grasp(data, model="edge", out=tmp_path / f"s{seed}", steps=2, seed=seed, **FAST)
    train_grasp(data, model="vn-edge", out=tmp_path / "vn", steps=2, **FAST)
    paths = [str(tmp_path / r / "model.pt") for r in ("s0", "s1", "vn")]
    ensemble = GraspDetector.load("+".join(paths))
    assert ensemble.scorer == "ensemble" and isinstance(ensemble.model, EnsembleNet)
    members = [GraspDetector.load(p) for p in paths]
    p, n = preprocess_cloud(*box_cloud((0.05, 0.04, 0.06)))
    points, normals = torch.as_tensor(p), torch.as_tensor(n)
    edges = sample_edges(points, normals, num_approach=8, table_height=0.0)
    mean = torch.stack([m.score_edges(points, normals, edges) for m in members]).mean(0)
    torch.testing.assert_close(ensemble.score_edges(points, normals, edges), mean, rtol=1e-5, atol=1e-6)
    assert len(ensemble.detect(p, n, top_k=2, table_height=0.0)) == 2
    with pytest.raises(ValueError, match="no checkpoint of its own"):
        ensemble.save(tmp_path / "ensemble.pt")
    with pytest.raises(ValueError, match="joins trained nets; heuristic is not one"):
        GraspDetector.load(paths[0] + "+heuristic")
    with pytest.raises(ValueError, match="no grasp detector"):
        GraspDetector.load(paths[0] + "+" + str(tmp_path / "missing.pt"))
