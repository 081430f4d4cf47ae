"""Equivariant and CNN policies: exact equivariance end to end through the action, export,
save/load round trips and bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from equimanip.policies import (CNNActor, CNNBCHead, CNNCritic, EquivariantActor, EquivariantBCHead,
                                EquivariantCritic, EquivariantEncoder, export, resolve_device)
from equimanip.symmetry import (O2, SO2, CyclicGroup, DihedralGroup, GroupElement, TaskSymmetry, group_from_name,
                                transform_action, transform_image)

GROUPS = ["C4", "C8", "D4", "D8"]
SMALL = {"image_size": 32, "n_hidden": 16}  # fast to build; the 128 net is checked once below


def exact_elements(group_name: str) -> list[GroupElement]:
    """Elements of the group that act on a pixel grid exactly (multiples of 90°, reflections)."""
    group = group_from_name(group_name)
    return [g for g in DihedralGroup(4).elements() if group.contains(g)]


def rotate_batch(x: torch.Tensor, g: GroupElement) -> torch.Tensor:
    return torch.from_numpy(transform_image(x.numpy(), g).copy())


def act(a: torch.Tensor, g: GroupElement) -> torch.Tensor:
    return torch.from_numpy(transform_action(a.detach().numpy().astype(np.float64), g)).float()


@pytest.fixture(scope="module", params=GROUPS)
def nets(request):
    torch.manual_seed(0)
    return request.param, {
        "actor": EquivariantActor(request.param, **SMALL).eval(),
        "bc": EquivariantBCHead(request.param, **SMALL).eval(),
        "critic": EquivariantCritic(request.param, **SMALL).eval(),
    }


def test_actor_is_equivariant_through_the_action(nets):
    group, modules = nets
    x = torch.randn(3, 2, 32, 32)
    with torch.no_grad():
        mean, log_std = modules["actor"](x)
        for g in exact_elements(group):
            mean_g, log_std_g = modules["actor"](rotate_batch(x, g))
            assert (mean_g - act(mean, g)).abs().max() < 1e-4, g
            assert (log_std_g - log_std).abs().max() < 1e-4, g  # stds are invariant
    assert torch.equal(log_std[:, 1], log_std[:, 2])  # one std for the (dx, dy) vector


def test_bc_head_is_equivariant(nets):
    group, modules = nets
    x = torch.randn(3, 2, 32, 32)
    with torch.no_grad():
        a = modules["bc"](x)
        for g in exact_elements(group):
            assert (modules["bc"](rotate_batch(x, g)) - act(a, g)).abs().max() < 1e-4, g


def test_critic_is_invariant(nets):
    group, modules = nets
    x, a = torch.randn(3, 2, 32, 32), torch.rand(3, 5) * 2 - 1
    with torch.no_grad():
        q = modules["critic"](x, a)
        assert len(q) == 2 and q[0].shape == (3, 1)
        for g in exact_elements(group):
            q_g = modules["critic"](rotate_batch(x, g), act(a, g))
            for qa, qb in zip(q, q_g):
                assert (qa - qb).abs().max() < 1e-4, g


def test_outputs_are_not_trivially_invariant(nets):
    """Guard against a test that cannot fail: the mean's (dx, dy) really turns with the image."""
    _, modules = nets
    x = torch.randn(2, 2, 32, 32)
    with torch.no_grad():
        mean, _ = modules["actor"](x)
        mean_g, _ = modules["actor"](rotate_batch(x, GroupElement(np.pi / 2)))
    assert (mean_g[:, 1:3] - mean[:, 1:3]).abs().max() > 1e-3


@pytest.mark.parametrize("kind", ["actor", "bc", "critic"])
def test_export_gives_plain_torch_with_equal_outputs(nets, kind):
    _, modules = nets
    module = modules[kind]
    plain = export(module)
    assert not any("escnn" in type(m).__module__ for m in plain.modules())
    x, a = torch.randn(2, 2, 32, 32), torch.rand(2, 5)
    with torch.no_grad():
        args = (x, a) if kind == "critic" else (x,)
        ours, theirs = module(*args), plain(*args)
    ours = ours if isinstance(ours, tuple) else (ours,)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    for o, t in zip(ours, theirs):
        assert (o - t).abs().max() < 1e-5


@pytest.mark.parametrize("factory", [
    lambda: EquivariantActor("D4", **SMALL), lambda: CNNActor(image_size=32), lambda: CNNBCHead(image_size=32),
    lambda: EquivariantBCHead("C8", **SMALL)], ids=["equi-actor", "cnn-actor", "cnn-bc", "equi-bc"])
def test_save_load_round_trip_gives_identical_actions(factory):
    torch.manual_seed(1)
    net = factory().eval()
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    torch.manual_seed(2)  # a differently initialised copy
    copy = factory().eval()
    buffer.seek(0)
    copy.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.randn(2, 2, 32, 32)
    with torch.no_grad():
        a, b = net(x), copy(x)
    for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        assert torch.equal(u, v)


def test_full_size_encoder_reaches_1x1_and_is_equivariant():
    torch.manual_seed(0)
    actor = EquivariantActor("D4", image_size=128, n_hidden=64).eval()
    x = torch.randn(1, 2, 128, 128)
    with torch.no_grad():
        assert actor.encoder(x).tensor.shape[-2:] == (1, 1)
        mean, _ = actor(x)
        g = GroupElement(np.pi / 2, reflection=True)
        mean_g, _ = actor(rotate_batch(x, g))
    assert (mean_g - act(mean, g)).abs().max() < 1e-4


def test_cnn_baselines_have_a_comparable_parameter_count():
    equi = sum(p.numel() for p in EquivariantActor("D4", image_size=128).parameters())
    cnn = sum(p.numel() for p in CNNActor(image_size=128).parameters())
    assert 0.5 < cnn / equi < 2.0, (cnn, equi)
    critic = CNNCritic(image_size=128)
    q = critic(torch.randn(2, 2, 128, 128), torch.rand(2, 5))
    assert len(q) == 2 and q[0].shape == (2, 1)


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("group,match", [("SO2", "finite group"), ("O2", "finite group"), ("X4", "accepted")])
def test_unusable_groups_are_rejected(group, match):
    with pytest.raises(ValueError, match=match):
        EquivariantEncoder(group, **SMALL)


@pytest.mark.parametrize("size", [100, 8, 12])
def test_bad_image_sizes_are_rejected(size):
    with pytest.raises(ValueError, match="image_size"):
        EquivariantEncoder("C4", image_size=size, n_hidden=16)
    with pytest.raises(ValueError, match="image_size"):
        CNNActor(image_size=size)


def test_a_group_must_be_a_symmetry_of_the_task():
    assert TaskSymmetry(group=O2()).check_subgroup(DihedralGroup(4)).name == "D4"
    with pytest.raises(ValueError, match="not a symmetry"):
        TaskSymmetry(group=SO2()).check_subgroup(DihedralGroup(4))  # e.g. ClutterGrasping: chiral objects
    assert TaskSymmetry(group=SO2()).check_subgroup(CyclicGroup(8)).name == "C8"


def test_export_rejects_what_it_cannot_export():
    with pytest.raises(ValueError, match="cannot export"):
        export(CNNActor(image_size=32))


@pytest.mark.parametrize("device,ok", [("auto", True), ("cpu", True), ("tpu", False), ("cuda:x", False)])
def test_device_resolution(device, ok):
    if ok:
        assert resolve_device(device).type in ("cpu", "cuda")
    else:
        with pytest.raises(ValueError, match="accepted"):
            resolve_device(device)


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="not available"):
        resolve_device("cuda")


def test_precision_resolution():
    from equimanip.policies.device import autocast, bf16_is_fast, resolve_precision

    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("BF16", cpu) == "bf16"
    assert resolve_precision("auto", cpu) == ("bf16" if bf16_is_fast(cpu) else "fp32")
    with pytest.raises(ValueError, match="accepted: auto, fp32, bf16"):
        resolve_precision("fp16", cpu)
    x = torch.randn(2, 3)
    with autocast(cpu, "bf16"):
        assert (x @ x.T).dtype == torch.bfloat16
    with autocast(cpu, "fp32"):
        assert (x @ x.T).dtype == torch.float32


def test_bf16_training_keeps_the_network_equivariant():
    """Mixed precision changes the arithmetic of training, not the architecture: after bf16 steps the
    fp32 network is still exactly D4-equivariant."""
    from equimanip.policies.device import autocast

    torch.manual_seed(0)
    net = EquivariantBCHead("D4", **SMALL).train()
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    x, y = torch.randn(4, 2, 32, 32), torch.rand(4, 5) * 2 - 1
    for _ in range(3):
        with autocast(torch.device("cpu"), "bf16"):
            out = net(x)
        assert out.dtype == torch.bfloat16
        loss = torch.nn.functional.mse_loss(torch.tanh(out.float()), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(p.dtype == torch.float32 for p in net.parameters())
    net.eval()
    with torch.no_grad():
        base = net(x)
        for g in exact_elements("D4"):
            err = (net(rotate_batch(x, g)) - act(base, g)).abs().max().item()
            assert err < 1e-4, (g, err)


def test_state_dict_does_not_depend_on_train_or_eval_mode():
    """escnn caches expanded filters as buffers in eval mode; our checkpoints never hold them."""
    torch.manual_seed(3)
    net = EquivariantActor("C4", **SMALL)
    train_keys = set(net.state_dict())
    net.eval()
    assert set(net.state_dict()) == train_keys
    copy = EquivariantActor("C4", **SMALL).eval()  # load into a module in the other mode
    copy.load_state_dict(net.state_dict())
    x = torch.randn(2, 2, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net(x)[0], copy(x)[0], atol=1e-6)  # eval caches rebuilt from loaded weights
