"""Rendering of the environments: text tables, frames drawn with Pillow, and a window.

Every env of the package renders through this module: ``"ansi"`` returns a fixed-width text table,
``"rgb_array"`` an (H, W, 3) uint8 frame drawn straight into an image with Pillow (panels of bars
and lines, a few milliseconds per frame; ``python -m edgecloud_bench.render_speed`` measures it),
and ``"human"`` shows those frames in a matplotlib window, updated at every step.

Pillow comes with matplotlib; ``pip install 'edgecloud-gym[render]'`` installs both, and moviepy
for Gymnasium's ``RecordVideo``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from edgecloud_gym.envs.allocation import EdgeCloudEnv

__all__ = [
    "RENDER_MODES",
    "HumanWindow",
    "Line",
    "Panel",
    "check_render_mode",
    "draw_frame",
    "panels_ansi",
    "render_ansi",
    "render_rgb",
]

#: The render modes of every env of the package.
RENDER_MODES: list[str] = ["ansi", "rgb_array", "human"]

#: Frame size (width, height) in pixels.
FRAME_SIZE = (640, 400)

_COLOURS = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
]


def check_render_mode(render_mode: str | None) -> str | None:
    """Return ``render_mode`` if it is None or one of :data:`RENDER_MODES`, else raise."""
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode must be None or one of {RENDER_MODES}, got {render_mode!r}.")
    return render_mode


@dataclass(frozen=True)
class Line:
    """One series of a line panel: ``y`` over ``x``; ``faded`` draws it lighter (a forecast)."""

    x: np.ndarray
    y: np.ndarray
    colour: int = 0
    faded: bool = False


@dataclass(frozen=True)
class Panel:
    """One panel of a frame: bars (``values`` with ``labels``) or lines (``lines``).

    Attributes:
        title: Drawn above the panel (with its unit).
        values: Bar heights, one per label (empty for a line panel).
        labels: Bar labels.
        vmax: Top of the value axis; None takes the largest value (at least 1e-9).
        colour: Index into the colour cycle of the bars.
        lines: Series of a line panel.
    """

    title: str
    values: Sequence[float] = ()
    labels: Sequence[str] = ()
    vmax: float | None = None
    colour: int = 0
    lines: Sequence[Line] = field(default_factory=tuple)


@functools.cache
def _font() -> Any:
    """Pillow's built-in bitmap font (its FreeType default draws text about 20x slower)."""
    from PIL import ImageFont

    bitmap = getattr(ImageFont, "load_default_imagefont", None)  # Pillow >= 10.1
    return bitmap() if bitmap is not None else ImageFont.load_default()


def _import_pil() -> Any:
    try:
        from PIL import Image, ImageDraw
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "render_mode='rgb_array' and 'human' need Pillow: pip install 'edgecloud-gym[render]'."
        ) from exc
    return Image, ImageDraw


def _top(values: np.ndarray, vmax: float | None) -> float:
    finite = values[np.isfinite(values)]
    top = vmax if vmax is not None else (float(finite.max()) if finite.size else 0.0)
    return max(top, 1e-9)


def _draw_bars(draw: Any, box: tuple[int, int, int, int], panel: Panel, font: Any) -> None:
    x0, y0, x1, y1 = box
    values = np.asarray(panel.values, dtype=np.float64)
    top = _top(values, panel.vmax)
    n = max(len(values), 1)
    slot = (x1 - x0) / n
    colour = _COLOURS[panel.colour % len(_COLOURS)]
    for i, v in enumerate(values):
        h = 0.0 if not np.isfinite(v) else min(max(v, 0.0) / top, 1.0) * (y1 - y0)
        left = x0 + i * slot + 0.15 * slot
        draw.rectangle([left, y1 - h, left + 0.7 * slot, y1], fill=colour)
        if i < len(panel.labels):
            draw.text((x0 + i * slot + 2, y1 + 3), str(panel.labels[i])[:7], fill=0, font=font)
    draw.text((x1 - 60, y0 - 12), f"max {top:.3g}", fill=(90, 90, 90), font=font)


def _draw_lines(draw: Any, box: tuple[int, int, int, int], panel: Panel, font: Any) -> None:
    x0, y0, x1, y1 = box
    if not panel.lines:
        return
    xs = np.concatenate([np.asarray(s.x, dtype=np.float64) for s in panel.lines])
    ys = np.concatenate([np.asarray(s.y, dtype=np.float64) for s in panel.lines])
    top = _top(ys, panel.vmax)
    lo, hi = float(xs.min()), float(xs.max())
    span = max(hi - lo, 1e-9)
    if lo < 0 <= hi:  # "now"
        xn = x0 + (0 - lo) / span * (x1 - x0)
        draw.line([(xn, y0), (xn, y1)], fill=(160, 160, 160))
    for s in panel.lines:
        x = x0 + (np.asarray(s.x, dtype=np.float64) - lo) / span * (x1 - x0)
        y = y1 - np.clip(np.nan_to_num(np.asarray(s.y, dtype=np.float64)) / top, 0, 1) * (y1 - y0)
        colour = _COLOURS[s.colour % len(_COLOURS)]
        if s.faded:
            colour = tuple(int(c + (255 - c) * 0.55) for c in colour)
        if len(x) > 1:
            draw.line(list(zip(x.tolist(), y.tolist(), strict=True)), fill=colour, width=2)
    draw.text((x0, y1 + 3), f"{lo:g}", fill=0, font=font)
    draw.text((x1 - 20, y1 + 3), f"{hi:g}", fill=0, font=font)
    draw.text((x1 - 60, y0 - 12), f"max {top:.3g}", fill=(90, 90, 90), font=font)


def draw_frame(title: str, panels: Sequence[Panel]) -> np.ndarray:
    """Draw ``panels`` (two per row) under ``title`` into a (400, 640, 3) uint8 frame."""
    image_cls, draw_cls = _import_pil()
    width, height = FRAME_SIZE
    image = image_cls.new("RGB", FRAME_SIZE, (255, 255, 255))
    draw = draw_cls.Draw(image)
    font = _font()
    draw.text((10, 6), title, fill=0, font=font)
    rows = max(1, (len(panels) + 1) // 2)
    cell_w, cell_h = width // 2, (height - 24) // rows
    for k, panel in enumerate(panels):
        cx, cy = (k % 2) * cell_w, 24 + (k // 2) * cell_h
        box = (cx + 14, cy + 28, cx + cell_w - 14, cy + cell_h - 22)
        draw.text((cx + 14, cy + 8), panel.title, fill=0, font=font)
        draw.rectangle(box, outline=(200, 200, 200))
        if panel.lines:
            _draw_lines(draw, box, panel, font)
        else:
            _draw_bars(draw, box, panel, font)
    return np.asarray(image, dtype=np.uint8)


def panels_ansi(title: str, panels: Sequence[Panel]) -> str:
    """The bar panels as text: the title, then one row per panel (label=value pairs)."""
    lines = [title]
    for panel in panels:
        if panel.lines:
            continue
        cells = " ".join(
            f"{label}={value:.4g}" for label, value in zip(panel.labels, panel.values, strict=False)
        )
        lines.append(f"{panel.title}: {cells}")
    return "\n".join(lines)


class HumanWindow:
    """A matplotlib window that shows one frame after another (``render_mode="human"``).

    Args:
        fps: Frames per second: each :meth:`show` waits ``1 / fps`` s for the window to draw.
    """

    def __init__(self, fps: float) -> None:
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "render_mode='human' needs matplotlib: pip install 'edgecloud-gym[render]'."
            ) from exc
        self._plt = plt
        self.fig, ax = plt.subplots(figsize=(FRAME_SIZE[0] / 100, FRAME_SIZE[1] / 100), dpi=100)
        ax.set_axis_off()
        self.fig.subplots_adjust(0, 0, 1, 1)
        self._ax = ax
        self._image: Any = None
        self.pause_s = 1.0 / fps

    def show(self, frame: np.ndarray) -> None:
        """Show ``frame`` (H, W, 3) in the window."""
        if self._image is None:
            self._image = self._ax.imshow(frame)
        else:
            self._image.set_data(frame)
        if self._plt.get_backend().lower() == "agg":  # no display: draw off-screen only
            self.fig.canvas.draw()
            return
        self._plt.pause(self.pause_s)

    def close(self) -> None:
        """Close the window."""
        self._plt.close(self.fig)


# ---------------------------------------------------------------------------- allocation env


def _state(env: EdgeCloudEnv) -> dict[str, np.ndarray]:
    sim = env.sim
    s, n = sim.n_servers, sim.n_edge
    obs = sim.observe()[0].astype(np.float64)
    w, h = env.config.obs_window, sim.horizon
    start = 4 * s
    window = obs[start : start + w * n].reshape(w, n)
    forecast = obs[env.layout.forecast].reshape(n, h) if h else np.zeros((n, 0))
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
    """Shares, utilisation, queues and recent arrivals vs forecast, as a (400, 640, 3) frame."""
    st = _state(env)
    sim = env.sim
    names = _server_names(sim.n_edge)
    w = st["window"].shape[0]
    h = st["forecast"].shape[1]
    series = []
    for i in range(sim.n_edge):
        series.append(Line(np.arange(-w, 0), st["window"][:, i], colour=i))
        if h:
            series.append(Line(np.arange(0, h), st["forecast"][i], colour=i, faded=True))
    info = env._last_info
    title = (
        f"{env.task.name}: step {int(sim.t[0])}/{sim.episode_steps}   "
        f"latency {info.get('latency_mean_ms', 0.0):.1f} ms   "
        f"SLA violations {info.get('sla_violation_rate', 0.0):.3f}"
    )
    panels = [
        Panel("allocation shares", st["shares"], names, vmax=1.0, colour=0),
        Panel("utilisation", st["utilisation"], names, vmax=1.0, colour=2),
        Panel("backlog (x buffer)", st["backlog"], names, vmax=1.0, colour=3),
        Panel("arrivals (x capacity), forecast faded", lines=series),
    ]
    return draw_frame(title, panels)
