"""One solve: an objective, a start image and a number of iterations in; the image and what happened out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from impasto.objective.objective import Objective

LBFGS_HISTORY = 50
LBFGS_MAX_LINE_SEARCH = 25
BF16_STALL_TOLERANCE = 1e-5  # two bf16 L-BFGS iterations in a row gaining less than this (relative): go on in fp32

Report = Callable[[int, torch.Tensor, torch.Tensor], None]  # (iteration, [objective, total, *groups], pixels)


@dataclass(frozen=True)
class Converged:
    """A stopping rule: stop once the objective (the loss with its constraints: temporal terms included) has fallen
    by less than `tolerance` of its value `window` iterations earlier, after at least `minimum` iterations; the
    count asked for is the cap."""

    tolerance: float
    window: int
    minimum: int

    def __post_init__(self) -> None:
        if not (self.tolerance >= 0 and self.window >= 1 and self.minimum >= 1):
            raise ValueError("a stopping rule needs tolerance >= 0, window >= 1 and minimum >= 1")

    def __call__(self, values: Sequence[float], done: int | None = None) -> bool:
        """`values`: the objective after each accepted iteration so far (of one precision: bf16's and fp32's are
        scaled apart); `done`: iterations done in all (default: len(values)). True: stop now."""
        done = len(values) if done is None else done
        if done < self.minimum or len(values) < self.window + 1:
            return False
        old, new = values[-1 - self.window], values[-1]
        return old - new < self.tolerance * abs(old)


# Frames that start where their temporal terms put them (boil > 0 between keyframes; `[temporal] iterations =
# "auto"`): measured in bench/auto_stop.py, see docs/boil.md#steady-frames-stop-when-converged.
STEADY = Converged(tolerance=0.01, window=8, minimum=24)


@dataclass(frozen=True, eq=False)
class Solved:
    image: torch.Tensor  # the last good iterate (pixels may stray a little outside 0-1)
    done: int  # iterations done: fewer than asked only if the optimisation diverged or `stop` said so
    fp32_from: int | None = None  # bf16 only: the iteration where its line search stalled; fp32 from there on


class _Stalled(Exception):
    """bf16 rounding stopped the line search: the caller goes on in fp32."""


def solve(objective: Objective, x0: torch.Tensor, iterations: int, *, optimizer: str = "lbfgs",
          lr: float | None = None, report: Report | None = None, offset: int = 0,
          stop: Converged | None = None) -> Solved:
    """Run `iterations` optimiser steps from x0; report(offset + i, terms, x) after each accepted one. With `stop`,
    end early once it says the objective has converged."""
    x = x0.detach().clone().contiguous().requires_grad_(True)
    done = 0
    fp32_from = None
    current = objective
    values: list[float] = []  # the objective after each accepted iteration, for `stop`
    while done < iterations:
        try:
            done += _steps(current, x, iterations - done, offset + done, optimizer, lr, report, stop, values)
            break
        except _Stalled as stall:
            # bf16 with L-BFGS: once the line search can no longer see a decrease through the rounding, finish
            # in fp32 from where bf16 got to.
            done += stall.args[0]
            current = current.with_precision("fp32")
            values.clear()  # fp32 divides by its own starting loss: its values start a new window
            fp32_from = offset + done
    return Solved(x.detach(), done, fp32_from)


def _optimiser(x: torch.Tensor, optimizer: str, lr: float | None) -> torch.optim.Optimizer:
    if optimizer == "lbfgs":
        return torch.optim.LBFGS(
            [x], lr=lr or 1.0, max_iter=1, max_eval=LBFGS_MAX_LINE_SEARCH + 1,
            tolerance_grad=-1.0, tolerance_change=-1.0, history_size=LBFGS_HISTORY, line_search_fn="strong_wolfe",
        )
    return torch.optim.Adam([x], lr=lr or 0.02)


def _steps(objective: Objective, x: torch.Tensor, iterations: int, offset: int, optimizer: str, lr: float | None,
           report: Report | None, stop: Converged | None = None, values: list[float] | None = None) -> int:
    scale: list[float] = []  # first total loss: L-BFGS sees an O(1) objective whatever u is
    last: dict[str, object] = {}
    cache: dict[str, object] = {}
    lbfgs = optimizer == "lbfgs"

    def closure() -> torch.Tensor:
        # torch's L-BFGS re-evaluates the point its line search just accepted; answer from the cache.
        if "x" in cache and torch.equal(x.detach(), cache["x"]):
            x.grad = cache["grad"].clone()
            return cache["loss"].clone()
        if x.grad is not None:
            x.grad = None
        # The network sees the image as it will be written (clamped); the range term walks stray pixels back
        # into range, which keeps L-BFGS's curvature pairs intact where clamping after each step would not.
        ev = objective.evaluate(x)
        if not scale:
            scale.append(max(float(ev.total.detach()), 1e-12))
        obj = ev.objective(scale[0])
        obj.backward()
        terms = ev.as_tensor(obj)
        cache.update(x=x.detach().clone(), grad=x.grad.detach().clone(), loss=obj.detach().clone())
        if lbfgs:
            # The line search reads floats anyway; keep the lowest evaluation of this step (the accepted iterate).
            value = float(terms[0])
            if "obj" not in last or value < last["obj"]:
                last.update(obj=value, terms=terms)
        else:
            last.update(terms=terms)  # stays on the device: no host round-trip per Adam step
        return obj

    opt = _optimiser(x, optimizer, lr)
    good = x.detach().clone()
    previous = float("inf")
    flat = 0
    check_every = 1 if lbfgs or x.device.type != "cuda" else 16  # Adam on CUDA: no host round-trip per step
    checked = 0
    for i in range(1, iterations + 1):
        last.clear()
        opt.step(closure)
        terms = last.get("terms")
        if terms is None:
            return checked
        if i % check_every == 0 or i == iterations:
            if not (bool(torch.isfinite(terms).all()) and bool(torch.isfinite(x).all())):
                # Keep the last good iterate rather than hand back NaNs.
                with torch.no_grad():
                    x.copy_(good)
                return checked
            with torch.no_grad():
                good.copy_(x)
            checked = i
        if report is not None:
            report(offset + i, terms, x)
        if stop is not None and values is not None:
            values.append(float(last["obj"]) if lbfgs else float(terms[0]))
            if stop(values, offset + i):
                return i
        if lbfgs and objective.precision == "bf16":
            flat = flat + 1 if last["obj"] >= previous * (1 - BF16_STALL_TOLERANCE) else 0
            previous = min(previous, last["obj"])
            if flat >= 2:
                raise _Stalled(i)
    return iterations
