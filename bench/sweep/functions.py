"""Standard synthetic test functions for black-box optimisers (all minimised).

Definitions follow Surjanovic and Bingham's Virtual Library of Simulation Experiments
(sfu.ca/~ssurjano). Each function has a box domain and a known global minimum.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    name: str
    bounds: list[tuple[float, float]]
    f: Callable[[list[float]], float]
    optimum: float
    noise: float = 0.0  # standard deviation of Gaussian noise added to observations

    @property
    def dims(self) -> int:
        return len(self.bounds)


def branin(x: list[float]) -> float:
    x1, x2 = x
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x2 - b * x1**2 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


_H6_ALPHA = [1.0, 1.2, 3.0, 3.2]
_H6_A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
_H6_P = [
    [1312, 1696, 5569, 124, 8283, 5886],
    [2329, 4135, 8307, 3736, 1004, 9991],
    [2348, 1451, 3522, 2883, 3047, 6650],
    [4047, 8828, 8732, 5743, 1091, 381],
]


def hartmann6(x: list[float]) -> float:
    total = 0.0
    for i in range(4):
        inner = sum(_H6_A[i][j] * (x[j] - _H6_P[i][j] * 1e-4) ** 2 for j in range(6))
        total += _H6_ALPHA[i] * math.exp(-inner)
    return -total


def rosenbrock(x: list[float]) -> float:
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def levy(x: list[float]) -> float:
    w = [1 + (xi - 1) / 4 for xi in x]
    head = math.sin(math.pi * w[0]) ** 2
    body = sum((wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2) for wi in w[:-1])
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return head + body + tail


PROBLEMS = {
    p.name: p
    for p in [
        Problem("branin", [(-5.0, 10.0), (0.0, 15.0)], branin, 0.397887),
        Problem("hartmann6", [(0.0, 1.0)] * 6, hartmann6, -3.32237),
        Problem("rosenbrock4", [(-5.0, 10.0)] * 4, rosenbrock, 0.0),
        Problem("levy5", [(-10.0, 10.0)] * 5, levy, 0.0),
        # Hartmann-6 observed through noise; scored by the true value of the trial that looked best.
        Problem("hartmann6_noisy", [(0.0, 1.0)] * 6, hartmann6, -3.32237, noise=0.1),
    ]
}


def observe(problem: Problem, x: list[float], rng: random.Random) -> tuple[float, float]:
    """(observed value, true value) at ``x``."""
    true = problem.f(x)
    return (true + rng.gauss(0.0, problem.noise) if problem.noise else true), true
