"""A seeded synthetic decision environment for justifiable-decision experiments.

Cases ("patients") have K features drawn from a low-rank latent model; A actions each
have a known logistic outcome model; the environment reward of an action is its
success probability (or a sampled success in logged data). A hidden clinician
preference, which looks only at a few salient features per action, defines which
action an expert would justify. Everything is numpy and deterministic for a seed.
The generative model is documented in docs/justifiable.md.

`load_tabular` reads a user cohort (CSV: feature columns..., action, outcome) into the
same `LoggedData` shape.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from debate.errors import DebateInputError

CLINICAL_FEATURES = (
    "age",
    "male",
    "heart_rate",
    "systolic_bp",
    "diastolic_bp",
    "resp_rate",
    "temperature",
    "spo2",
    "lactate",
    "creatinine",
    "wbc",
    "platelets",
    "bilirubin",
    "glucose",
    "sodium",
    "potassium",
    "hemoglobin",
    "gcs",
    "urine_output",
    "fluid_balance",
    "on_ventilator",
    "diabetes",
    "chronic_kidney",
    "immunosuppressed",
)
BINARY_FEATURES = frozenset(
    {"male", "on_ventilator", "diabetes", "chronic_kidney", "immunosuppressed"}
)
CLINICAL_ACTIONS = (
    "observe",
    "fluids",
    "antibiotics",
    "vasopressors",
    "fluids+vasopressors",
    "icu_transfer",
)


@dataclass(frozen=True)
class EnvConfig:
    """Sizes and strengths of the generative model."""

    num_features: int = 24
    num_actions: int = 6
    latent_dim: int = 4
    feature_noise: float = 0.6
    salient_per_action: int = 4
    effect_scale: float = 1.0
    dense_effect_scale: float = 0.2
    expert_salient: int = 3
    expert_bias_scale: float = 0.3


@dataclass(frozen=True)
class LoggedData:
    """Logged decisions: states (n, K), taken actions (n,), outcomes (n,)."""

    states: np.ndarray
    actions: np.ndarray
    outcomes: np.ndarray
    feature_names: tuple[str, ...]
    action_names: tuple[str, ...]


class DecisionEnv:
    """The synthetic environment; its parameters are fixed by `seed`.

    - states: z ~ N(0, I_d), x = z W + eps, eps ~ N(0, noise^2); binary features are
      thresholded at 0.5 to {0, 1};
    - outcome: P(success | x, a) = sigmoid(b_a + theta_a . x), theta_a has a few large
      salient weights plus small dense ones;
    - clinician: u(x, a) = c_a + sum over the expert's top `expert_salient` features of
      theta_a[f] x_f; the expert action is argmax_a u(x, a).
    """

    def __init__(self, config: EnvConfig | None = None, seed: int = 0) -> None:
        self.config = cfg = config or EnvConfig()
        self.seed = seed
        rng = np.random.default_rng([seed, 1013])
        k, a = cfg.num_features, cfg.num_actions
        self.feature_names = tuple(
            CLINICAL_FEATURES[i] if i < len(CLINICAL_FEATURES) else f"feature_{i}" for i in range(k)
        )
        self.action_names = tuple(
            CLINICAL_ACTIONS[i] if i < len(CLINICAL_ACTIONS) else f"action_{i}" for i in range(a)
        )
        self.binary = np.array([name in BINARY_FEATURES for name in self.feature_names])
        self.mixing = rng.normal(0.0, 1.0 / np.sqrt(cfg.latent_dim), size=(cfg.latent_dim, k))
        self.outcome_bias = rng.normal(0.0, 0.3, size=a)
        theta = rng.normal(0.0, cfg.dense_effect_scale, size=(a, k))
        for action in range(a):
            salient = rng.choice(k, size=cfg.salient_per_action, replace=False)
            theta[action, salient] = rng.normal(0.0, cfg.effect_scale, size=salient.size)
        self.outcome_weights = theta
        expert = np.zeros_like(theta)
        for action in range(a):
            top = np.argsort(-np.abs(theta[action]))[: cfg.expert_salient]
            expert[action, top] = theta[action, top]
        self.expert_weights = expert
        self.expert_bias = self.outcome_bias + rng.normal(0.0, cfg.expert_bias_scale, size=a)

    @property
    def num_features(self) -> int:
        return self.config.num_features

    @property
    def num_actions(self) -> int:
        return self.config.num_actions

    def sample_states(self, n: int, seed: int) -> np.ndarray:
        """n cases as a float32 array (n, K); the same seed gives the same array."""
        rng = np.random.default_rng([self.seed, seed, 2027])
        latent = rng.normal(size=(n, self.config.latent_dim))
        states = latent @ self.mixing + rng.normal(
            0.0, self.config.feature_noise, size=(n, self.num_features)
        )
        states[:, self.binary] = (states[:, self.binary] > 0.5).astype(float)
        return states.astype(np.float32)

    def outcome_prob(self, states: np.ndarray) -> np.ndarray:
        """P(success | x, a) for every action: (n, A)."""
        logits = states @ self.outcome_weights.T + self.outcome_bias
        return 1.0 / (1.0 + np.exp(-logits))

    def env_reward(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """The expected reward (success probability) of the chosen actions: (n,)."""
        return self.outcome_prob(states)[np.arange(len(actions)), actions]

    def expert_utility(self, states: np.ndarray) -> np.ndarray:
        """The hidden clinician's utility of every action: (n, A)."""
        return states @ self.expert_weights.T + self.expert_bias

    def expert_action(self, states: np.ndarray) -> np.ndarray:
        return self.expert_utility(states).argmax(axis=1)

    def optimal_action(self, states: np.ndarray) -> np.ndarray:
        return self.outcome_prob(states).argmax(axis=1)

    def salient_features(self, action: int) -> list[str]:
        """The features the clinician looks at for one action."""
        used = np.flatnonzero(self.expert_weights[action])
        return [self.feature_names[i] for i in used]

    def sample_logged(self, n: int, seed: int) -> LoggedData:
        """Logged data under a uniform behaviour policy with sampled binary outcomes."""
        states = self.sample_states(n, seed)
        rng = np.random.default_rng([self.seed, seed, 3041])
        actions = rng.integers(0, self.num_actions, size=n)
        success = self.env_reward(states, actions)
        outcomes = (rng.random(n) < success).astype(np.float32)
        return LoggedData(states, actions, outcomes, self.feature_names, self.action_names)


def load_tabular(
    path: str | Path, action_column: str = "action", outcome_column: str = "outcome"
) -> LoggedData:
    """Read a cohort CSV (numeric feature columns..., action, outcome) as LoggedData.

    Actions may be integers or names; names are numbered in order of first appearance
    sorted alphabetically. Every other column must be numeric.
    """
    path = Path(path)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise DebateInputError(f"{path}: no rows")
    columns = list(rows[0].keys())
    for required in (action_column, outcome_column):
        if required not in columns:
            raise DebateInputError(f"{path}: missing column {required!r}")
    feature_names = tuple(c for c in columns if c not in (action_column, outcome_column))
    raw_actions = [row[action_column] for row in rows]
    if all(value.strip().lstrip("-").isdigit() for value in raw_actions):
        actions = np.array([int(value) for value in raw_actions])
        action_names = tuple(str(i) for i in range(int(actions.max()) + 1))
    else:
        action_names = tuple(sorted(set(raw_actions)))
        index = {name: i for i, name in enumerate(action_names)}
        actions = np.array([index[value] for value in raw_actions])
    try:
        states = np.array(
            [[float(row[c]) for c in feature_names] for row in rows], dtype=np.float32
        )
        outcomes = np.array([float(row[outcome_column]) for row in rows], dtype=np.float32)
    except ValueError as error:
        raise DebateInputError(f"{path}: non-numeric feature or outcome ({error})") from error
    return LoggedData(states, actions, outcomes, feature_names, action_names)
