"""``equimanip ros`` command line: help for every option, one-line errors for bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from equimanip.cli import build_parser, main


@pytest.mark.parametrize("command", ["policy-node", "sim-robot", "grasp-server"])
def test_every_option_has_help(command):
    sub = next(a for a in build_parser()._subparsers._group_actions[0].choices["ros"]._actions
               if a.__class__.__name__ == "_SubParsersAction")
    parser = sub.choices[command]
    missing = [a.dest for a in parser._actions if a.dest != "help" and not a.help]
    assert not missing, missing


def test_policy_node_refuses_a_missing_run(tmp_path, capsys):
    assert main(["ros", "policy-node", "--run", str(tmp_path / "nope")]) == 2
    assert "is not a run directory" in capsys.readouterr().err


def test_policy_node_refuses_a_negative_state_wait(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["ros", "policy-node", "--run", str(tmp_path), "--state-wait", "-1"])
    assert "expected a number of seconds >= 0, got '-1'" in capsys.readouterr().err


def test_sim_robot_needs_an_env_or_a_run(capsys):
    assert main(["ros", "sim-robot"]) == 2
    assert "give --env ID or --run RUN_DIR" in capsys.readouterr().err


def test_an_unknown_robot_config_is_a_clear_error(tmp_path, capsys):
    assert main(["ros", "sim-robot", "--env", "BlockPicking-v0", "--robot", "kuka"]) == 2
    assert "no robot config 'kuka'" in capsys.readouterr().err


def test_no_rosbridge_server_is_a_one_line_error():
    from equimanip.ros.testing import free_port

    port = free_port()  # nothing listens there
    res = subprocess.run([sys.executable, "-m", "equimanip", "ros", "grasp-server", "--detector", "random-edge",
                          "--rosbridge", f"127.0.0.1:{port}", "--connect-timeout", "1"], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 2, res.stderr[-2000:]
    assert f"no rosbridge server answered at ws://127.0.0.1:{port}" in res.stderr
    assert "Traceback" not in res.stderr
