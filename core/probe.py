"""What a whole-vector kernel may ask of the surface beyond the gradient at its point.

    gradient(surf, p, out) -> f      value at p, gradient written into out
    hessian(surf, p, out)            Hessian at p written into out (n x n)

`surf` is an opaque tuple the loop hands to the kernel. The engine installs
the generated dispatch over every surface here before it compiles a loop;
numba reads these names when it compiles a kernel, so the kernels that call
them are never cached on their own (the generated loop that inlines them is).
"""

from __future__ import annotations


def gradient(surf, p, out):
    raise RuntimeError("core.probe.gradient is installed by core.engine.kernels()")


def hessian(surf, p, out):
    raise RuntimeError("core.probe.hessian is installed by core.engine.kernels()")
