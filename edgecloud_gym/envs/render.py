"""Rendering of the allocation environment: a text table and a matplotlib figure."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from edgecloud_gym.envs.allocation import EdgeCloudEnv

__all__ = ["render_ansi", "render_rgb"]


def _state(env: EdgeCloudEnv) -> dict[str, np.ndarray]:
    sim = env.sim
    s, n = sim.n_servers, sim.n_edge
    obs = sim.observe()[0].astype(np.float64)
    w, h = env.config.obs_window, sim.horizon
    start = 4 * s
    window = obs[start : start + w * n].reshape(w, n)
    forecast = obs[start + w * n + 3 :].reshape(n, h) if h else np.zeros((n, 0))
    return {
        "inflow": obs[:s],
        "backlog": obs[s : 2 * s],
        "utilisation": obs[2 * s : 3 * s],
        "shares": obs[3 * s : 4 * s],
        "window": window,
        "forecast": forecast,
    }


def _server_names(n: int) -> list[str]:
    return [f"edge{i}" for i in range(n)] + ["cloud"]


def render_ansi(env: EdgeCloudEnv) -> str:
    """The state as a fixed-width table, one row per server."""
    st = _state(env)
    sim = env.sim
    info = env._last_info
    lines = [
        f"task={env.task.name} step={int(sim.t[0])}/{sim.episode_steps} "
        f"latency={info.get('latency_mean_ms', 0.0):.1f} ms "
        f"sla_violations={info.get('sla_violation_rate', 0.0):.3f} "
        f"dropped={info.get('dropped', 0.0):.1f}",
        f"{'server':<7}{'share':>7}{'inflow':>8}{'backlog':>9}{'util':>7}{'next':>8}",
    ]
    names = _server_names(sim.n_edge)
    for i, name in enumerate(names):
        nxt = st["forecast"][i, 0] if i < sim.n_edge and st["forecast"].shape[1] else np.nan
        lines.append(
            f"{name:<7}{st['shares'][i]:7.3f}{st['inflow'][i]:8.3f}{st['backlog'][i]:9.3f}"
            f"{st['utilisation'][i]:7.3f}{nxt:8.3f}"
        )
    lines.append("(inflow, next: x capacity per step; backlog: x buffer; next: forecast)")
    return "\n".join(lines)


def render_rgb(env: EdgeCloudEnv) -> np.ndarray:
    """Shares, utilisation, queues and recent arrivals vs forecast, as an (H, W, 3) image."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "render_mode='rgb_array' needs matplotlib: pip install 'edgecloud-gym[render]'."
        ) from exc
    st = _state(env)
    sim = env.sim
    names = _server_names(sim.n_edge)
    fig = Figure(figsize=(8, 5), dpi=80)
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2)
    x = np.arange(len(names))
    axes[0, 0].bar(x, st["shares"], color="tab:blue")
    axes[0, 0].set_title("allocation shares")
    axes[0, 1].bar(x, st["utilisation"], color="tab:green")
    axes[0, 1].set_ylim(0, 1)
    axes[0, 1].set_title("utilisation")
    axes[1, 0].bar(x, st["backlog"], color="tab:red")
    axes[1, 0].set_title("backlog (x buffer)")
    for ax in (axes[0, 0], axes[0, 1], axes[1, 0]):
        ax.set_xticks(x, names, fontsize=7)
    ax = axes[1, 1]
    w = st["window"].shape[0]
    h = st["forecast"].shape[1]
    for i in range(sim.n_edge):
        line = ax.plot(np.arange(-w, 0), st["window"][:, i], lw=1)[0]
        if h:
            ax.plot(np.arange(0, h), st["forecast"][i], ls="--", lw=1, color=line.get_color())
    ax.axvline(-0.5, color="k", lw=0.5)
    ax.set_title("arrivals (solid) vs forecast (dashed)")
    ax.set_xlabel("steps from now")
    fig.suptitle(f"{env.task.name}: step {int(sim.t[0])}/{sim.episode_steps}")
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
