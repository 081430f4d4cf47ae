"""stable-baselines3 integration: equivariant (or CNN) actor and critic for SAC.

SB3's extension points are used, not a fork: a :class:`SACPolicy` subclass overrides
``make_actor``/``make_critic`` (a custom features extractor alone could only give an *invariant*
encoder, REFERENCES §6). The observation ``Dict`` is stacked into one image by
:class:`ImageObsExtractor` (depth, optional RGB, and the holding flag broadcast as a channel).

Usage::

    from stable_baselines3 import SAC
    from equimanip.agents.sb3_policy import ImageSACPolicy
    model = SAC(ImageSACPolicy, env, policy_kwargs={"network": "equi", "group": "D4"})
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import SquashedDiagGaussianDistribution
from stable_baselines3.common.policies import BaseModel, BasePolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.sac.policies import SACPolicy

from equimanip.policies import CNNActor, CNNCritic, EquivariantActor, EquivariantCritic
from equimanip.symmetry import group_from_name

NETWORKS = ("equi", "cnn")


class ImageObsExtractor(BaseFeaturesExtractor):
    """Stack a tabletop observation into a ``B×C×H×W`` image: depth, RGB/255 if present, and the
    holding flag as a constant channel. All channels are invariant under the group."""

    def __init__(self, observation_space: spaces.Dict):
        if not isinstance(observation_space, spaces.Dict) or "depth" not in observation_space.spaces:
            raise ValueError("ImageObsExtractor needs a Dict observation with a 'depth' image (an equimanip env)")
        depth = observation_space["depth"].shape
        self.use_rgb = "rgb" in observation_space.spaces
        channels = depth[0] + (3 if self.use_rgb else 0) + 1
        self.image_shape = (channels, depth[1], depth[2])
        super().__init__(observation_space, features_dim=channels * depth[1] * depth[2])

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        depth = obs["depth"]
        parts = [depth]
        if self.use_rgb:
            parts.append(obs["rgb"].float() / 255.0)
        holding = obs["holding"].float().reshape(depth.shape[0], 1, 1, 1).expand(-1, 1, *depth.shape[-2:])
        parts.append(holding)
        return torch.cat(parts, dim=1)


class ImageActor(BasePolicy):
    """SAC actor around an image network returning ``(mean, log_std)`` (tanh-squashed Gaussian)."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Box, features_extractor: ImageObsExtractor,
                 net: torch.nn.Module):
        super().__init__(observation_space, action_space, features_extractor=features_extractor, normalize_images=False,
                         squash_output=True)
        self.net = net
        self.action_dist = SquashedDiagGaussianDistribution(int(action_space.shape[0]))

    def get_action_dist_params(self, obs: Any) -> tuple[torch.Tensor, torch.Tensor, dict]:
        mean, log_std = self.net(self.extract_features(obs, self.features_extractor))
        # fp32 from here on: under bf16 autocast the squashed Gaussian's log-probabilities (tanh
        # correction with eps 1e-6) would lose their precision
        return mean.float(), log_std.float(), {}

    def forward(self, obs: Any, deterministic: bool = False) -> torch.Tensor:
        mean, log_std, _ = self.get_action_dist_params(obs)
        return self.action_dist.actions_from_params(mean, log_std, deterministic=deterministic)

    def action_log_prob(self, obs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std, _ = self.get_action_dist_params(obs)
        return self.action_dist.log_prob_from_params(mean, log_std)

    def _predict(self, observation: Any, deterministic: bool = False) -> torch.Tensor:
        return self(observation, deterministic)

    def reset_noise(self, batch_size: int = 1) -> None:
        raise ValueError("gSDE is not supported by the image actor; use use_sde=False")


class ImageCritic(BaseModel):
    """Twin Q around an image network ``(image, action) -> (q1, q2)``.

    Called with actions that carry autograd (SAC's actor loss, where only ∂Q/∂a is used and the
    critic's own gradients are discarded), the image encoder runs without autograd: the actor's
    gradient is the same, and the encoder's backward pass, whose result SB3 would discard, is skipped.
    Q-values are returned in fp32 under bf16 autocast.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Box, features_extractor: ImageObsExtractor,
                 net: torch.nn.Module):
        super().__init__(observation_space, action_space, features_extractor=features_extractor, normalize_images=False)
        self.net = net
        self.share_features_extractor = False

    def forward(self, obs: Any, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        encoder_grad = not (actions.requires_grad and torch.is_grad_enabled())
        q = self.net(self.extract_features(obs, self.features_extractor), actions, encoder_grad=encoder_grad)
        return tuple(v.float() for v in q)

    def q1_forward(self, obs: Any, actions: torch.Tensor) -> torch.Tensor:
        return self(obs, actions)[0]

    def set_training_mode(self, mode: bool) -> None:
        # In eval mode escnn caches filters expanded from the weights. SAC keeps the target critic
        # in eval mode while Polyak-averaging its weights, which would never reach such a cache:
        # escnn critics always run in training mode (nothing else here depends on the mode).
        super().set_training_mode(True if isinstance(self.net, EquivariantCritic) else mode)


class ImageSACPolicy(SACPolicy):
    """SAC policy with an equivariant (escnn) or CNN actor and twin critic on image observations.

    Args (``policy_kwargs``):
        network: ``equi`` or ``cnn``.
        group: the equivariant networks' group (``C4``, ``C8``, ``D4``, ``D8``); ignored for ``cnn``.
        n_hidden: regular fields of the equivariant encoder (64 in the papers).
        cnn_features: width of the CNN baselines' last layer.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Box, lr_schedule: Any, *,
                 network: str = "equi", group: str = "D4", n_hidden: int = 64, cnn_features: int = 96,
                 **kwargs: Any):
        if network not in NETWORKS:
            raise ValueError(f"unknown network {network!r}; accepted: {', '.join(NETWORKS)}")
        group_from_name(group)  # clear error for unknown names
        if kwargs.get("use_sde"):
            raise ValueError("gSDE is not supported by ImageSACPolicy; use use_sde=False")
        if kwargs.pop("features_extractor_class", ImageObsExtractor) is not ImageObsExtractor:
            raise ValueError("ImageSACPolicy stacks the observation itself: features_extractor_class cannot be changed")
        if kwargs.pop("share_features_extractor", False):
            raise ValueError("ImageSACPolicy gives the actor and the critic their own encoders")
        self.network, self.group, self.n_hidden, self.cnn_features = network, group, n_hidden, cnn_features
        super().__init__(observation_space, action_space, lr_schedule, features_extractor_class=ImageObsExtractor,
                         share_features_extractor=False, **kwargs)

    def _image_args(self, extractor: ImageObsExtractor) -> dict[str, int]:
        channels, size, _ = extractor.image_shape
        return {"in_channels": channels, "image_size": size}

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> ImageActor:  # type: ignore[override]
        extractor = features_extractor or self.make_features_extractor()
        args = self._image_args(extractor)  # type: ignore[arg-type]
        net = (EquivariantActor(self.group, n_hidden=self.n_hidden, **args) if self.network == "equi"
               else CNNActor(features=self.cnn_features, **args))
        return ImageActor(self.observation_space, self.action_space, extractor, net).to(self.device)  # type: ignore[arg-type]

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> ImageCritic:  # type: ignore[override]
        extractor = features_extractor or self.make_features_extractor()
        args = self._image_args(extractor)  # type: ignore[arg-type]
        n_critics = self.critic_kwargs["n_critics"]
        net = (EquivariantCritic(self.group, n_hidden=self.n_hidden, n_critics=n_critics, **args)
               if self.network == "equi" else CNNCritic(features=self.cnn_features, n_critics=n_critics, **args))
        return ImageCritic(self.observation_space, self.action_space, extractor, net).to(self.device)  # type: ignore[arg-type]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(network=self.network, group=self.group, n_hidden=self.n_hidden, cnn_features=self.cnn_features)
        return data
