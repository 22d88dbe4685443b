"""A justifiable decision policy learned by fitted Q on logged data.

Each case is one decision (a horizon-1 problem), so fitted Q-iteration reduces to one
regression: a torch MLP Q(x) -> R^A is fitted to the logged reward of the taken action,
r = (1 - lambda) * r_env + lambda * r_debate, where r_debate is the zero-sum outcome
of the evidence debate of the logged action against the baseline policy's action.
The policy is argmax_a Q(x, a); lambda = 0 gives the baseline itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


class QNetwork(nn.Module):
    def __init__(self, num_features: int, num_actions: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(num_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_actions),
        )

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.net(states)


@dataclass(frozen=True)
class QTraining:
    epochs: int = 40
    batch_size: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    hidden: int = 64


class QPolicy:
    """The greedy policy of a fitted Q network."""

    def __init__(self, network: QNetwork) -> None:
        self.network = network

    @torch.no_grad()
    def act(self, states: np.ndarray | torch.Tensor) -> torch.Tensor:
        tensor = torch.as_tensor(states, dtype=torch.float32)
        return self.network(tensor).argmax(dim=1)


def fit_q(
    states: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    num_actions: int,
    seed: int,
    training: QTraining | None = None,
) -> QPolicy:
    """Regress Q(x, a_logged) on the logged rewards (mean squared error)."""
    training = training or QTraining()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(states, dtype=torch.float32)
    a = torch.as_tensor(actions, dtype=torch.long)
    r = torch.as_tensor(rewards, dtype=torch.float32)
    network = QNetwork(x.shape[1], num_actions, training.hidden)
    optimizer = torch.optim.Adam(
        network.parameters(), lr=training.learning_rate, weight_decay=training.weight_decay
    )
    n = x.shape[0]
    for _ in range(training.epochs):
        permutation = torch.randperm(n, generator=generator)
        for start in range(0, n, training.batch_size):
            batch = permutation[start : start + training.batch_size]
            predicted = network(x[batch]).gather(1, a[batch].unsqueeze(1)).squeeze(1)
            loss = nn.functional.mse_loss(predicted, r[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    network.eval()
    return QPolicy(network)
