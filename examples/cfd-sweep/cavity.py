"""Lid-driven cavity flow: the steady incompressible Navier–Stokes equations in a unit square
whose top wall slides at speed 1, in vorticity–streamfunction form.

    ω_t + u ω_x + v ω_y = (1/Re) ∇²ω,   ∇²ψ = -ω,   u = ψ_y,  v = -ψ_x

Explicit time marching to steady state: first-order upwind convection, central diffusion,
Thom's wall vorticity, and an exact Poisson solve per step by sine-transform
diagonalisation of the 5-point Laplacian (dense n×n matrices: exact and fast for n ≲ 128).
NumPy only.
"""

from __future__ import annotations

import numpy as np


def _sine_basis(m: int, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal eigenvectors and eigenvalues of the 1-D Dirichlet Laplacian -d²/dx² on m points."""
    k = np.arange(1, m + 1)
    s = np.sqrt(2.0 / (m + 1)) * np.sin(np.pi * np.outer(k, k) / (m + 1))
    lam = (2.0 - 2.0 * np.cos(np.pi * k / (m + 1))) / h**2
    return s, lam


def solve(reynolds: float, n: int, t_end: float, tolerance: float = 1e-6) -> dict:
    """March to steady state on an (n+1)×(n+1) grid. Returns fields and a convergence history."""
    h = 1.0 / n
    nu = 1.0 / reynolds
    s, lam = _sine_basis(n - 1, h)
    denom = lam[:, None] + lam[None, :]
    psi = np.zeros((n + 1, n + 1))  # indexed [j, i]: j is y (row 0 the bottom), i is x
    omega = np.zeros_like(psi)
    # Stable explicit step for upwind convection (|u| ≤ 1) plus diffusion, with a margin.
    dt = 0.8 / (4.0 * nu / h**2 + 2.0 / h)
    steps = int(np.ceil(t_end / dt))
    history = []
    change = np.inf
    step = 0
    for step in range(1, steps + 1):
        # Wall vorticity (Thom): walls at rest, the lid (top row) moving at u = 1.
        omega[0, :] = -2.0 * psi[1, :] / h**2
        omega[-1, :] = -2.0 * psi[-2, :] / h**2 - 2.0 / h
        omega[:, 0] = -2.0 * psi[:, 1] / h**2
        omega[:, -1] = -2.0 * psi[:, -2] / h**2
        u = (psi[2:, 1:-1] - psi[:-2, 1:-1]) / (2 * h)
        v = -(psi[1:-1, 2:] - psi[1:-1, :-2]) / (2 * h)
        w = omega
        dwdx_b = (w[1:-1, 1:-1] - w[1:-1, :-2]) / h
        dwdx_f = (w[1:-1, 2:] - w[1:-1, 1:-1]) / h
        dwdy_b = (w[1:-1, 1:-1] - w[:-2, 1:-1]) / h
        dwdy_f = (w[2:, 1:-1] - w[1:-1, 1:-1]) / h
        conv = (np.maximum(u, 0) * dwdx_b + np.minimum(u, 0) * dwdx_f
                + np.maximum(v, 0) * dwdy_b + np.minimum(v, 0) * dwdy_f)
        lap = (w[1:-1, 2:] + w[1:-1, :-2] + w[2:, 1:-1] + w[:-2, 1:-1] - 4 * w[1:-1, 1:-1]) / h**2
        delta = dt * (nu * lap - conv)
        omega[1:-1, 1:-1] += delta
        # -∇²ψ = ω in the interior, ψ = 0 on the walls: diagonal in the sine basis.
        psi[1:-1, 1:-1] = s @ ((s @ omega[1:-1, 1:-1] @ s) / denom) @ s
        change = float(np.abs(delta).max() / dt)
        if step % 50 == 0 or step == 1:
            history.append((step * dt, change))
        if change < tolerance:
            break
    u_full = np.zeros_like(psi)
    v_full = np.zeros_like(psi)
    u_full[1:-1, :] = (psi[2:, :] - psi[:-2, :]) / (2 * h)
    v_full[:, 1:-1] = -(psi[:, 2:] - psi[:, :-2]) / (2 * h)
    u_full[-1, :] = 1.0
    j, i = np.unravel_index(np.argmin(psi), psi.shape)
    return {
        "psi": psi, "omega": omega, "u": u_full, "v": v_full,
        "history": np.array(history),
        "steps": step, "dt": dt, "time": step * dt, "residual": change,
        "converged": bool(change < tolerance),
        "psi_min": float(psi[j, i]), "vortex_x": float(i * h), "vortex_y": float(j * h),
    }
