"""BC / SEIL training through the CLI, exact resume, evaluation of the run, the experiment runner,
and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from equimanip.agents.bc import BCConfig, load_run, train
from equimanip.experiment import load_config, run_experiment

ENV = "equimanip/BlockInBowl-v0"
SMALL = {"dpos": 0.02, "image_size": 32}


def _cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "equimanip", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from equimanip.collect import collect

    path = tmp_path_factory.mktemp("data") / "bowl"
    collect(ENV, 2, 100, path, env_options=SMALL, progress=False)
    return path


def _small(**kw) -> BCConfig:
    base = dict(demos=2, steps=6, batch_size=8, n_hidden=16, eval_episodes=1, checkpoint_every=3, video_episodes=0)
    return BCConfig(**{**base, **kw})


@pytest.mark.parametrize("trainer,policy", [("seil", "equi"), ("bc", "cnn")])
def test_train_through_the_cli_then_eval(tmp_path, dataset, trainer, policy):
    run = tmp_path / "run"
    r = _cli("train", trainer, "--dataset", str(dataset), "--demos", "2", "--policy", policy, "--steps", "8", "--batch-size", "8",
             "--n-hidden", "16", "--eval-episodes", "1", "--out", str(run), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "success" in r.stdout
    for name in ("config.json", "samples.npz", "checkpoint.pt", "model.pt", "curve.png", "eval.mp4", "summary.json", "eval.csv"):
        assert (run / name).exists(), name
    assert list((run / "tb").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["algo"] == trainer and summary["steps"] == 8
    assert (summary["samples"]["simulated"] > 0) == (trainer == "seil")
    r = _cli("eval", "--run", str(run), "--episodes", "1", "--json", str(tmp_path / "e.json"))
    assert r.returncode == 0, r.stderr
    assert 0.0 <= json.loads((tmp_path / "e.json").read_text())["success_rate"] <= 1.0


def test_train_collects_its_own_demos(tmp_path):
    run = tmp_path / "run"
    summary = train(_small(env=ENV, env_options={"image_size": 32}, steps=2), run, progress=False)
    assert (run / "dataset" / "meta" / "info.json").exists()
    assert summary["config"]["env_options"] == {"dpos": 0.02, "image_size": 32}  # SEIL's dpos by default


def test_resume_continues_bit_for_bit(tmp_path, dataset, monkeypatch):
    import equimanip.agents.bc as bc

    full = tmp_path / "full"
    train(_small(dataset=str(dataset)), full, progress=False)
    part = tmp_path / "part"
    save = bc._save_checkpoint

    def crash_after_saving(*args, **kwargs):
        save(*args, **kwargs)
        raise KeyboardInterrupt  # the run dies right after its first checkpoint (step 3 of 6)

    monkeypatch.setattr(bc, "_save_checkpoint", crash_after_saving)
    with pytest.raises(KeyboardInterrupt):
        train(_small(dataset=str(dataset)), part, progress=False)
    monkeypatch.setattr(bc, "_save_checkpoint", save)
    assert torch.load(part / "checkpoint.pt", weights_only=False)["step"] == 3 and not (part / "model.pt").exists()
    summary = train(_small(dataset=str(dataset)), part, resume=True, progress=False)
    assert summary["steps"] == 6
    a = torch.load(full / "model.pt", weights_only=False)["model"]
    b = torch.load(part / "model.pt", weights_only=False)["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_periodic_evaluations_leave_training_unchanged(tmp_path, dataset, monkeypatch):
    import importlib.util

    import equimanip.agents.bc as bc
    from equimanip.agents.run_dir import read_eval

    train(_small(dataset=str(dataset), eval_episodes=2), tmp_path / "plain", progress=False)
    asked = []
    evaluate = bc.evaluate_net

    def counting(net, config, episodes, *args, **kwargs):
        asked.append(episodes)
        return evaluate(net, config, episodes, *args, **kwargs)

    monkeypatch.setattr(bc, "evaluate_net", counting)
    run = tmp_path / "evals"
    summary = train(_small(dataset=str(dataset), eval_episodes=2, eval_every=2, periodic_eval_episodes=1), run, progress=False)
    assert asked == [1, 1, 2] and [r["steps"] for r in read_eval(run)] == [2, 4, 6]
    assert summary["seconds"]["periodic_eval"] > 0
    a = torch.load(tmp_path / "plain" / "model.pt", weights_only=False)["model"]
    b = torch.load(run / "model.pt", weights_only=False)["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # the benchmark's best-of-evaluations figure (the SEIL paper's protocol) reads these runs
    spec = importlib.util.spec_from_file_location("bench_seil", Path(__file__).resolve().parents[1] / "scripts" / "bench_seil.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "PERIODIC_EPISODES", 1)
    best = bench.best_of_evals(run, summary)
    assert best["evals"] == 3 and best["best_eval"] == max(best["eval_curve"])
    assert best["eval_curve"][-1] == float(summary["final_eval"]["episode_success"][0])
    assert bench.best_of_evals(tmp_path / "plain", json.loads((tmp_path / "plain" / "summary.json").read_text())) == {}


def test_select_best_keeps_the_best_validated_weights_and_resumes(tmp_path, dataset, monkeypatch):
    import equimanip.agents.bc as bc

    evaluate = bc.evaluate_net
    validation = {2: 0.5, 4: 1.0, 6: 0.0}  # scripted validation success per step: step 4 must be kept
    state = {"steps": iter(()), "crash_at": None}
    snapshots: dict[int, dict] = {}

    def scripted(net, config, episodes, seed, *args, **kwargs):
        if seed != bc.first_validation_seed(config.seed):
            assert seed == bc.first_eval_seed(config.seed)
            return evaluate(net, config, episodes, seed, *args, **kwargs)
        step = next(state["steps"])  # the step this validation happens at
        if step == state["crash_at"]:
            raise KeyboardInterrupt  # the process dies while validating the last step
        snapshots.setdefault(step, {k: v.clone() for k, v in net.state_dict().items()})
        return {**evaluate(net, config, 1, seed), "success_rate": validation[step]}

    monkeypatch.setattr(bc, "evaluate_net", scripted)
    config = dict(dataset=str(dataset), eval_every=2, periodic_eval_episodes=1, select_best=True, eval_episodes=2)
    state["steps"] = iter((2, 4, 6))
    summary = train(_small(**config), tmp_path / "run", progress=False)
    assert summary["selected"] == {"step": 4, "success_rate": 1.0}
    kept = torch.load(tmp_path / "run" / "model.pt", weights_only=False)["model"]
    assert all(torch.equal(kept[k], snapshots[4][k]) for k in kept)
    assert summary["final_eval"]["seeds"][0] == bc.first_eval_seed(0)  # tested on the usual episodes, not validation

    # a crash during the last validation: the resumed run validates step 6 and keeps step 4's weights from best.pt
    part = tmp_path / "part"
    state.update(steps=iter((2, 4, 6)), crash_at=6)
    with pytest.raises(KeyboardInterrupt):
        train(_small(**config), part, progress=False)
    state.update(steps=iter((6,)), crash_at=None)
    summary = train(_small(**config), part, resume=True, progress=False)
    assert summary["selected"] == {"step": 4, "success_rate": 1.0}
    kept = torch.load(part / "model.pt", weights_only=False)["model"]
    assert all(torch.equal(kept[k], snapshots[4][k]) for k in kept)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_precision_is_recorded(tmp_path, dataset, precision):
    summary = train(_small(dataset=str(dataset), steps=2, precision=precision), tmp_path / "run", progress=False)
    assert summary["precision"] == precision and summary["config"]["precision"] == precision
    assert 0.0 <= summary["final_eval"]["success_rate"] <= 1.0


def test_load_run_gives_the_trained_policy(tmp_path, dataset):
    run = tmp_path / "run"
    train(_small(dataset=str(dataset), policy="cnn", steps=2), run, progress=False)
    policy, config = load_run(run, device="cpu")
    obs = {"depth": torch.zeros(1, 32, 32).numpy(), "holding": torch.zeros(1).numpy()}
    action, _ = policy.predict(obs)
    assert action.shape == (5,) and abs(action).max() <= 1.0
    assert config.env == ENV


def test_a_context_view_run_trains_and_loads_with_both_depth_channels(tmp_path):
    run = tmp_path / "run"
    summary = train(_small(env=ENV, demos=1, env_options={"image_size": 32, "context_view": 0.6}, steps=2), run,
                    progress=False)
    assert summary["config"]["env_options"]["context_view"] == 0.6
    assert summary["samples"]["simulated"] > 0
    policy, config = load_run(run, device="cpu")
    obs = {"depth": torch.zeros(2, 32, 32).numpy(), "holding": torch.zeros(1).numpy()}
    action, _ = policy.predict(obs)
    assert action.shape == (5,)
    with pytest.raises(ValueError, match="2 channel.*with a context_view.*shape \\(1, 32, 32\\)"):
        policy.predict({"depth": torch.zeros(1, 32, 32).numpy(), "holding": torch.zeros(1).numpy()})


def test_an_ensemble_trains_its_members_apart_and_acts_on_their_mean(tmp_path, dataset):
    import math

    from equimanip.agents.bc import BCEnsemble, BCPolicy, rotate_batch

    run = tmp_path / "run"
    summary = train(_small(dataset=str(dataset), ensemble=2, steps=3), run, progress=False)
    assert summary["config"]["ensemble"] == 2
    policy, _ = load_run(run, device="cpu")
    net = policy.net
    assert isinstance(net, BCEnsemble) and len(net.members) == 2
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 2, 32, 32, generator=gen)
    with torch.no_grad():
        a, b = (m(x) for m in net.members)
        assert not torch.allclose(a, b)  # different initial weights
        torch.testing.assert_close(net(x), (a + b) / 2)
        # exported members act as the trained escnn ones, and the mean is still equivariant (90° turns)
        state = torch.load(run / "model.pt", weights_only=False)["model"]
        from equimanip.agents.bc import make_network

        raw = make_network(BCConfig.from_json(run / "config.json"), 32)
        raw.load_state_dict(state)
        raw.eval()
        torch.testing.assert_close(raw(x), net(x), atol=1e-4, rtol=1e-4)
        turned, _ = rotate_batch(x, torch.zeros(3, 5), torch.full((3,), math.pi / 2))
        out, turned_out = torch.tanh(net(x)), torch.tanh(net(turned))
        _, expected = rotate_batch(x, out, torch.full((3,), math.pi / 2))
        torch.testing.assert_close(turned_out, expected, atol=1e-4, rtol=1e-4)
    obs = {"depth": x[0, :1].numpy(), "holding": x[0, 1, :1, 0].numpy()}
    assert BCPolicy(raw).predict(obs)[0].shape == (5,)
    with pytest.raises(ValueError, match="ensemble must be a positive integer"):
        _small(dataset=str(dataset), ensemble=0).validate()


def test_failure_report_replays_the_evaluation_beside_the_expert(tmp_path, dataset):
    run = tmp_path / "run"
    train(_small(dataset=str(dataset), policy="cnn", steps=2), run, progress=False)  # 2 steps: it fails
    script = Path(__file__).resolve().parents[1] / "scripts" / "bc_failures.py"
    r = subprocess.run([sys.executable, str(script), str(run), "--episodes", "1", "--show", "1"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "episode 0 (seed 2000000): failed after" in r.stdout and "expert [" in r.stdout
    assert r.stdout.strip().endswith("1 of 1 episodes failed")
    assert "failure modes: never grasped 1, grasp-and-release loop 0, still holding 0, let go elsewhere 0" in r.stdout
    assert "grasps" in r.stdout and "bodies (x, y, z) at the end: block" in r.stdout
    r = subprocess.run([sys.executable, str(script), str(run), "--episodes", "1", "--brief"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and "failed after" in r.stdout and "expert [" not in r.stdout  # no steps


def test_layout_report_bins_the_evaluation_by_the_scenes_distances(tmp_path, dataset):
    run = tmp_path / "run"
    train(_small(dataset=str(dataset), policy="cnn", steps=2), run, progress=False)
    script = Path(__file__).resolve().parents[1] / "scripts" / "bc_layouts.py"
    r = subprocess.run([sys.executable, str(script), str(run), "--bins", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    episodes = len(json.loads((run / "summary.json").read_text())["final_eval"]["episode_success"])
    assert f"of {episodes} episodes" in r.stdout
    # BlockInBowl tracks the block and the bowl: two start distances and one between them, with the demos' values
    rows = [line for line in r.stdout.splitlines() if "demos:" in line]
    assert len(rows) == 4 and any("↔" in line for line in rows) and all(" cm:" in line for line in rows)
    assert any("on an axis" in line for line in rows)  # the larger of |dx|, |dy| between the two bodies
    r = subprocess.run([sys.executable, str(script), str(run), "--edges", "1", "100"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr  # every distance lies between 1 and 100 cm: one bin, all episodes
    assert all(f"/{episodes})" in line for line in r.stdout.splitlines() if "demos:" in line)
    r = subprocess.run([sys.executable, str(script), str(run), "--edges", "16", "8"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2 and "increasing order" in r.stderr
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "not a BC/SEIL run directory" in r.stderr


def test_in_hand_offsets_are_the_default_where_something_is_carried(tmp_path):
    BIB = "equimanip/BlockInBowl-v0"
    assert BCConfig(env=BIB, simulate_n=4).validate().grasp_offset_n == 2  # half of SEIL's 4 views of a carried step
    assert BCConfig(env=BIB, simulate_n=16).validate().grasp_offset_n == 8
    assert BCConfig(env=BIB, simulate_n=0).validate().grasp_offset_n == 0  # plain BC simulates nothing
    assert BCConfig(env=BIB, simulate_n=4, simulate_holding=False).validate().grasp_offset_n == 0  # nothing carried
    assert BCConfig(env=BIB, simulate_n=4, grasp_offset_n=0).validate().grasp_offset_n == 0  # SEIL's own views
    # a config saved by a run from before the option trained without offsets; a user's partial config gets the default
    saved = json.loads(BCConfig(env=BIB).to_json())
    del saved["grasp_offset_n"]
    (tmp_path / "old.json").write_text(json.dumps(saved))
    assert BCConfig.from_json(tmp_path / "old.json").validate().grasp_offset_n == 0
    (tmp_path / "mine.json").write_text(json.dumps({"env": BIB, "simulate_n": 4}))
    assert BCConfig.from_json(tmp_path / "mine.json").validate().grasp_offset_n == 2


def test_bad_input(tmp_path, dataset):
    run = tmp_path / "run"
    r = _cli("train", "seil", "--dataset", str(dataset), "--env", "equimanip/BlockStacking-v0", "--steps", "2", "--out", str(run))
    assert r.returncode == 2 and "BlockInBowl" in r.stderr and "not" in r.stderr
    r = _cli("train", "seil", "--dataset", str(dataset), "--simulate-n", "0", "--out", str(run))
    assert r.returncode == 2 and "simulate-n" in r.stderr
    r = _cli("train", "bc", "--dataset", str(dataset), "--group", "D5x", "--out", str(run))
    assert r.returncode == 2 and "group" in r.stderr.lower()
    r = _cli("train", "bc", "--env", "equimanip/ClutterGrasping-v0", "--group", "D4", "--out", str(run))
    assert r.returncode == 2 and "D4" in r.stderr  # chiral objects: no reflections
    r = _cli("train", "bc", "--out", str(run))
    assert r.returncode == 2 and "--dataset" in r.stderr
    r = _cli("train", "bc", "--dataset", str(dataset), "--precision", "fp16", "--out", str(run))
    assert r.returncode == 2 and "fp16" in r.stderr and "bf16" in r.stderr
    with pytest.raises(ValueError, match="accepted: auto, fp32, bf16"):
        _small(dataset=str(dataset), precision="half").validate()
    for bad in ("0", "-1", "nan"):
        r = _cli("train", "seil", "--dataset", str(dataset), "--sim-weight", bad, "--out", str(run))
        assert r.returncode == 2 and "sim_weight must be a positive number" in r.stderr
    r = _cli("train", "seil", "--dataset", str(dataset), "--select-best", "--out", str(run))
    assert r.returncode == 2 and "set eval_every > 0" in r.stderr  # nothing to select from
    for bad in ("0.5", "nan"):
        with pytest.raises(ValueError, match="sim_reach must be a number of steps >= 1"):
            _small(dataset=str(dataset), sim_reach=float(bad)).validate()
    r = _cli("train", "seil", "--dataset", str(dataset), "--switch-weight", "0.5", "--out", str(run))
    assert r.returncode == 2 and "switch_weight must be a number >= 1" in r.stderr
    r = _cli("train", "seil", "--dataset", str(dataset), "--grasp-offset-n", "5", "--out", str(run))
    assert r.returncode == 2 and "grasp_offset_n <= simulate_n" in r.stderr  # 4 views per step, 5 shifted
    r = _cli("train", "seil", "--dataset", str(dataset), "--grasp-offset-n", "2", "--free-space-only", "--out", str(run))
    assert r.returncode == 2 and "not --free-space-only" in r.stderr  # nothing is carried, nothing to shift
    for bad in ("0", "0.2", "nan"):
        with pytest.raises(ValueError, match=r"grasp_offset must be a shift in metres in \(0, 0.05\]"):
            _small(dataset=str(dataset), grasp_offset_n=1, grasp_offset=float(bad)).validate()
    for bad in ("-1e-5", "nan"):
        r = _cli("train", "seil", "--dataset", str(dataset), f"--weight-decay={bad}", "--out", str(run))
        assert r.returncode == 2 and "weight_decay must be a non-negative number" in r.stderr
    r = _cli("train", "seil", "--dataset", str(tmp_path / "nowhere"), "--out", str(run))
    assert r.returncode == 2
    r = _cli("train", "bc", "--dataset", str(dataset), "--demos", "5", "--out", str(run))
    assert r.returncode == 2 and "5 demos" in r.stderr
    assert not (run / "model.pt").exists()
    # a non-empty run directory is never overwritten
    done = tmp_path / "done"
    train(_small(dataset=str(dataset), steps=2, policy="cnn", weight_decay=1e-5), done, progress=False)
    assert torch.load(done / "checkpoint.pt", weights_only=False)["optimizer"]["param_groups"][0]["weight_decay"] == 1e-5
    before = (done / "model.pt").read_bytes()
    with pytest.raises(ValueError, match="not empty"):
        train(_small(dataset=str(dataset), steps=2), done, progress=False)
    # a corrupted checkpoint: a clear error on resume, nothing overwritten
    (done / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupted"):
        train(_small(dataset=str(dataset)), done, resume=True, progress=False)
    assert (done / "model.pt").read_bytes() == before


def test_experiment_end_to_end_and_config_errors(tmp_path):
    config = {"env": ENV, "env_options": SMALL, "demos": 1, "seeds": [0], "eval_episodes": 2,
              "train": {"steps": 3, "batch_size": 8, "n_hidden": 16},
              "methods": {"SEIL": {"policy": "equi", "simulate_n": 2}, "CNN BC": {"policy": "cnn", "simulate_n": 0}}}
    path = tmp_path / "exp.json"
    path.write_text(json.dumps(config))
    table = run_experiment(path, tmp_path / "out", progress=False)
    assert [r["method"] for r in table] == ["SEIL", "CNN BC"]
    for name in ("results.md", "results.json", "success.png", "seil_eval.mp4"):
        assert (tmp_path / "out" / name).exists(), name
    # re-running reuses finished runs
    assert run_experiment(path, tmp_path / "out", progress=False) == table
    # ... but never one trained with other settings
    path.write_text(json.dumps({**config, "train": {**config["train"], "steps": 4}}))
    with pytest.raises(ValueError, match=r"finished run with other settings: steps=3 \(the config asks for 4\)"):
        run_experiment(path, tmp_path / "out", progress=False)
    # ... nor one trained before a default changed: a run from before in-hand offsets had none
    path.write_text(json.dumps(config))
    summary_path = tmp_path / "out" / "runs" / "seil-seed0" / "summary.json"
    summary = json.loads(summary_path.read_text())
    assert summary["config"]["grasp_offset_n"] == 1  # half of its 2 simulated views
    del summary["config"]["grasp_offset_n"]
    summary_path.write_text(json.dumps(summary))
    with pytest.raises(ValueError, match=r"grasp_offset_n=0 \(the config asks for 1\)"):
        run_experiment(path, tmp_path / "out", progress=False)
    path.write_text(json.dumps({**config, "learning": 1}))
    with pytest.raises(ValueError, match="unknown keys"):
        load_config(path)
    path.write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_config(path)
    assert load_config(None)["env"] == ENV  # the shipped config of the main job


def test_shipped_experiment_configs_load():
    """The main job's config (SEIL vs CNN BC) and its ablation (+ Equi BC) are valid and differ only
    in the ablation's extra method."""
    from equimanip.experiment import default_config_path

    main = load_config(None)
    ablation = load_config(default_config_path().with_name("seil_block_in_bowl_ablation.json"))
    assert list(main["methods"]) == ["SEIL", "CNN BC"]
    assert list(ablation["methods"]) == ["SEIL", "Equi BC", "CNN BC"]
    assert {k: v for k, v in ablation.items() if k not in ("methods", "description")} == \
        {k: v for k, v in main.items() if k not in ("methods", "description")}


class _LateExpert:
    """The scripted expert, idling with the gripper open for ``10·i`` steps at the start of episode ``i``;
    it follows evaluate()'s episodes (seeds ``seed`` …, cut at ``limit``) in a twin env of its own, which
    stays identical because the envs are deterministic."""

    def __init__(self, env_id: str, options: dict, seed: int, limit: int):
        import gymnasium as gym

        self.env = gym.make(env_id, **options, max_episode_steps=limit)
        self.seed, self.episode, self.done, self.t = seed, -1, True, 0

    def predict(self, obs, deterministic: bool = True):
        import numpy as np

        if self.done:
            self.episode += 1
            self.env.reset(seed=self.seed + self.episode)
            self.done, self.t = False, 0
        idle = np.array([1.0, 0.0, 0.0, 0.0, 0.0], np.float32)
        action = idle if self.t < 10 * self.episode else self.env.unwrapped.expert_action()
        _, _, terminated, truncated, _ = self.env.step(action)
        self.done, self.t = terminated or truncated, self.t + 1
        return action, None


def test_episode_limit_and_success_within_a_shorter_one():
    from equimanip.agents.train_rl import evaluate
    from equimanip.rollout import success_within

    env, options, seed = "equimanip/BlockPicking-v0", {"image_size": 32}, 300
    config = BCConfig(env=env, env_options=options, max_episode_steps=60)
    long = evaluate(_LateExpert(env, options, seed, 60), config, 4, seed)
    assert long["max_episode_steps"] == 60 and max(long["episode_length"]) <= 60
    short = evaluate(_LateExpert(env, options, seed, 25), config, 4, seed, max_episode_steps=25)
    assert short["max_episode_steps"] == 25
    # the idling makes later episodes succeed later: some succeed within 60 steps but not within 25
    assert sum(short["episode_success"]) < sum(long["episode_success"])
    assert success_within(long, 25) == (sum(short["episode_success"]), 4)
    assert all(n == 25 for ok, n in zip(short["episode_success"], short["episode_length"]) if not ok)
    with pytest.raises(ValueError, match="cut at 25 steps"):
        success_within(short, 60)
    with pytest.raises(ValueError, match="max_episode_steps must be a positive integer"):
        evaluate(_LateExpert(env, options, seed, 25), config, 1, seed, max_episode_steps=-3)
    with pytest.raises(ValueError, match="max_episode_steps must be a non-negative integer"):
        BCConfig(env=env, max_episode_steps=-1).validate()
