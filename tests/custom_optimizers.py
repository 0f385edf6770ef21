"""Optimizer classes of a user's own, loaded by name as "custom_optimizers:Class" in the tests."""

import torch

LOADED = True


class SignDescent(torch.optim.Optimizer):
    """Steps every coordinate by lr against the sign of its gradient, scaled by a decaying `shrink`."""

    def __init__(self, params, lr=0.1, shrink=0.99, history_size=3, betas=(0.5, 0.25), eps=(1e-8, 1e-3)):
        super().__init__(params, {"lr": lr, "shrink": shrink, "history_size": history_size, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["t"] = state.get("t", 0) + 1
                scale = group["lr"] * group["shrink"] ** state["t"] * (group["betas"][0] + group["betas"][1])
                p.add_(torch.sign(p.grad), alpha=-scale)


class NotAnOptimizer:
    """Has a step method, but is no torch.optim.Optimizer."""

    def step(self):
        pass
