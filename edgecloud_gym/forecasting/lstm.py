"""The paper's LSTM workload forecaster (2 layers x 64 units), its features and its weights.

Design:

- **Per node, shared weights.** Every edge node's series is one sequence of a batch (node as
  batch), so one set of weights serves any number of nodes N and any topology.
- **Scale-free features.** Arrivals are divided by the node's nominal service rate ``scale``
  (requests/step), then expressed relative to their own causal EWMA level; see
  :data:`FEATURE_LAYOUT` for the exact columns.
- **Multiplicative output.** At step t the head gives H log-ratios ``o``; the forecast of step
  t + 1 + h is ``level_t * exp(o_h) * scale`` (requests/step).
- **Causal, one pass per episode.** At reset the LSTM runs once over the episode's pre-sampled
  arrivals (batched over episodes and nodes); the output at index t only depends on indices
  <= t, so the forecast before episode step k (output at ``warmup + k - 1``) uses arrivals at
  indices ``< warmup + k``. No window is re-run per step.

Weights are a ``.npz`` of float32 arrays (no pickle) next to a ``.json`` metadata file with the
architecture, the feature layout, the normalisation, the training set-up and metrics, the package
version and a SHA-256 checksum of the arrays. :func:`load_weights` refuses weights whose
architecture, feature layout or checksum don't match. torch is imported only when an
:class:`LSTMForecaster` is built.
"""

from __future__ import annotations

import hashlib
import json
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edgecloud_gym._threads import run_in_chunks
from edgecloud_gym._validation import did_you_mean
from edgecloud_gym.core._jit import jit
from edgecloud_gym.core.workload import EpisodeWorkload
from edgecloud_gym.model_version import MODEL_VERSION, check_model_version

__all__ = [
    "DEFAULT_CONTEXT",
    "DEFAULT_WEIGHTS",
    "FEATURE_LAYOUT",
    "JOINT_WEIGHTS",
    "PAPER_ARCHITECTURE",
    "PRECISIONS",
    "JointLSTMForecaster",
    "LSTMForecaster",
    "WeightsMismatchError",
    "build_network",
    "load_weights",
    "lstm_features",
    "save_weights",
    "weights_checksum",
]

#: Weights shipped with the package (trained by ``edgecloud forecast train``, see
#: docs/forecasting.md); the metadata file has the same stem and a ``.json`` suffix.
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "lstm-h5.npz"

#: Weights of the ``"lstm-joint"`` forecaster: the same network trained on the joint presets
#: (``TrainConfig(joint_fraction=...)``, see docs/forecasting.md, "Joint workload").
JOINT_WEIGHTS = Path(__file__).parent / "weights" / "lstm-joint-h5.npz"

#: Steps of history the LSTM's pass reads before an episode's first forecast (see
#: :class:`LSTMForecaster`).
DEFAULT_CONTEXT = 16

#: Identifier of the weights file format.
WEIGHTS_FORMAT = "edgecloud-gym/lstm-forecaster"
WEIGHTS_FORMAT_VERSION = 1

#: Input columns of the network and the constants that define them. Weights trained for another
#: layout are refused. ``x = arrivals / scale``; ``level = ewma(x, ewma_alpha)`` (causal).
FEATURE_LAYOUT: dict[str, Any] = {
    "version": 1,
    "features": [
        "log((x + eps) / (level + eps))",
        "log1p(level * scale) / log_rate_divisor",
        "log((mean_nodes x + eps) / (mean_nodes level + eps))",
        "sin(2 pi phase)",
        "cos(2 pi phase)",
    ],
    "ewma_alpha": 0.3,
    "eps": 1e-3,
    "log_rate_divisor": 8.0,
    "output": "o[h] = log(forecast[t + 1 + h] / (level[t] * scale)), clipped to [-5, 5]",
}

#: The paper's network: 2 stacked LSTM layers of 64 units, H = 5 forecast steps.
PAPER_ARCHITECTURE: dict[str, Any] = {
    "type": "lstm",
    "input_size": len(FEATURE_LAYOUT["features"]),
    "hidden_size": 64,
    "num_layers": 2,
    "horizon": 5,
}

#: Normalisation, recorded in the metadata (informative; the layout above is what is checked).
NORMALISATION = (
    "arrivals divided by each node's nominal service rate `scale` (requests/step), "
    "then taken relative to their causal EWMA level"
)

#: Sequences per forward pass; every pass runs single-threaded (faster than contended threads).
#: Larger batches go in chunks: at 6144 sequences (1024 vector envs) one pass took ~4 x longer
#: than chunks of 64 on one thread, its activations no longer fitting in cache; results are
#: bit-identical for any chunk size.
_CHUNK_SEQUENCES = 64

#: Episodes per thread below which the feature and forecast passes run in one thread.
_MIN_EPISODES_PER_THREAD = 64


class WeightsMismatchError(ValueError):
    """Weights that don't fit the forecaster: architecture, feature layout or checksum."""


def lstm_features(
    arrivals: np.ndarray, phase: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The network's input sequences and the EWMA level, per node.

    Args:
        arrivals: (B, L, N) arrivals (requests/step).
        phase: (B, L) diurnal phase in [0, 1).
        scale: (B, N) nominal service rate of each node (requests/step), > 0.

    Returns:
        features (B * N, L, F) float32, node-major within each episode (row ``b * N + i``), and
        level (B, L, N): the causal EWMA of ``arrivals / scale`` (dimensionless), the same
        numbers as :func:`~edgecloud_gym.forecasting.baselines.ewma` gives.
    """
    lay = FEATURE_LAYOUT
    arrivals = np.asarray(arrivals, dtype=np.float64)
    phase = np.asarray(phase, dtype=np.float64)
    scale = np.asarray(scale, dtype=np.float64)
    b, length, n = arrivals.shape
    if scale.shape != (b, n):
        raise ValueError(f"scale must have shape {(b, n)} (episodes, nodes), got {scale.shape}.")
    if phase.shape != (b, length):
        raise ValueError(
            f"phase must have shape {(b, length)} (episodes, steps), got {phase.shape}."
        )
    if np.any(scale <= 0):
        raise ValueError("scale (nominal service rate, requests/step) must be > 0 for every node.")
    feats = np.empty((b * n, length, len(lay["features"])), dtype=np.float32)
    level = np.empty((b, length, n))
    alpha, eps, divisor = (
        float(lay["ewma_alpha"]),
        float(lay["eps"]),
        float(lay["log_rate_divisor"]),
    )

    def episodes(lo: int, hi: int) -> None:  # episodes are independent: any split is exact
        _features_kernel(
            arrivals[lo:hi],
            phase[lo:hi],
            scale[lo:hi],
            alpha,
            eps,
            divisor,
            feats[lo * n : hi * n],
            level[lo:hi],
        )

    run_in_chunks(episodes, b, _MIN_EPISODES_PER_THREAD, block=_MIN_EPISODES_PER_THREAD)
    return feats, level


@jit
def _features_kernel(arrivals, phase, scale, alpha, eps, divisor, feats, level):  # pragma: no cover
    """One compiled pass for :func:`lstm_features` (numpy would need ~20 array operations).

    The EWMA recursion is the one ``scipy.signal.lfilter`` evaluates for
    :func:`~edgecloud_gym.forecasting.baselines.ewma` (``y[0] = alpha x[0] + (1 - alpha) x[0]``,
    then ``y[t] = alpha x[t] + (1 - alpha) y[t - 1]``), so the level is bit-identical to it."""
    n_batch, length, n = arrivals.shape
    keep = 1.0 - alpha
    for b in range(n_batch):
        for t in range(length):
            sum_x = 0.0
            sum_level = 0.0
            for i in range(n):
                x = arrivals[b, t, i] / scale[b, i]
                previous = x if t == 0 else level[b, t - 1, i]
                lv = alpha * x + keep * previous
                level[b, t, i] = lv
                sum_x += x
                sum_level += lv
                row = b * n + i
                feats[row, t, 0] = np.log((x + eps) / (lv + eps))
                feats[row, t, 1] = np.log1p(lv * scale[b, i]) / divisor
            system = np.log((sum_x / n + eps) / (sum_level / n + eps))
            angle = 2.0 * np.pi * phase[b, t]
            sin, cos = np.sin(angle), np.cos(angle)
            for i in range(n):
                row = b * n + i
                feats[row, t, 2] = system
                feats[row, t, 3] = sin
                feats[row, t, 4] = cos


@jit
def _forecasts_kernel(log_ratios, level, scale, first, horizon, out):  # pragma: no cover
    """``out[b, k, i, h] = level[b, first + k, i] * scale[b, i] * exp(clip(o, -5, 5))`` with
    ``o = log_ratios[b N + i, first + k, h]`` (float32, as the network gives it)."""
    n_batch, n_k, n, _ = out.shape
    for b in range(n_batch):
        for i in range(n):
            row = b * n + i
            for k in range(n_k):
                base = level[b, first + k, i] * scale[b, i]
                for h in range(horizon):
                    o = min(max(log_ratios[row, first + k, h], np.float32(-5.0)), np.float32(5.0))
                    out[b, k, i, h] = base * np.exp(o)


def weights_checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over the arrays' names, dtypes, shapes and little-endian bytes (sorted by name),
    so equal weights give equal checksums whatever the file's zip timestamps."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        digest.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


def _metadata_path(path: Path) -> Path:
    return path.with_suffix(".json")


def save_weights(
    path: str | Path, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]
) -> Path:
    """Write ``arrays`` (float32) to ``path`` (``.npz``) and the metadata next to it (``.json``).

    The format, the feature layout, the model version and the checksum are filled in here; ``metadata`` gives the
    architecture and whatever else should be recorded (training set-up, metrics).

    Returns:
        The metadata file's path.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"weights path must end in .npz, got {str(path)!r}.")
    if "architecture" not in metadata:
        raise ValueError("metadata must contain 'architecture' (see PAPER_ARCHITECTURE).")
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    meta = {
        "format": WEIGHTS_FORMAT,
        "format_version": WEIGHTS_FORMAT_VERSION,
        "feature_layout": FEATURE_LAYOUT,
        "normalisation": NORMALISATION,
        **metadata,
        "model_version": MODEL_VERSION,
        "sha256": weights_checksum(arrays),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    meta_path = _metadata_path(path)
    tmp_meta = meta_path.with_name(f".{meta_path.name}.tmp")
    tmp_meta.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp_meta.replace(meta_path)
    return meta_path


def _expected_shapes(arch: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    f, hid, layers, horizon = (
        arch["input_size"],
        arch["hidden_size"],
        arch["num_layers"],
        arch["horizon"],
    )
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(layers):
        shapes[f"lstm.weight_ih_l{layer}"] = (4 * hid, f if layer == 0 else hid)
        shapes[f"lstm.weight_hh_l{layer}"] = (4 * hid, hid)
        shapes[f"lstm.bias_ih_l{layer}"] = (4 * hid,)
        shapes[f"lstm.bias_hh_l{layer}"] = (4 * hid,)
    shapes["head.weight"] = (horizon, hid)
    shapes["head.bias"] = (horizon,)
    return shapes


def load_weights(
    path: str | Path = DEFAULT_WEIGHTS, architecture: Mapping[str, Any] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and verify LSTM weights and their metadata (numpy only, offline).

    Args:
        path: The ``.npz`` weights; the metadata is the ``.json`` file of the same stem.
        architecture: Expected architecture (default :data:`PAPER_ARCHITECTURE`).

    Returns:
        The arrays by parameter name and the metadata.

    Raises:
        FileNotFoundError: The weights or their metadata are missing.
        WeightsMismatchError: The format, architecture, feature layout, array shapes or
            checksum don't match.
    """
    path = Path(path)
    expected = dict(PAPER_ARCHITECTURE if architecture is None else architecture)
    meta_path = _metadata_path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"LSTM weights {str(path)!r} not found; train them with `edgecloud forecast train "
            f"--out {path}` or omit the path to use the shipped weights."
        )
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"metadata {str(meta_path)!r} of the LSTM weights not found; weights are only loaded "
            "together with the metadata file that `edgecloud forecast train` writes beside them."
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsMismatchError(
            f"metadata {meta_path} of the LSTM weights is not valid JSON ({exc}); the file is "
            "corrupt. Restore it or retrain with `edgecloud forecast train`."
        ) from None
    if not isinstance(meta, dict):
        raise WeightsMismatchError(
            f"metadata {meta_path} of the LSTM weights must hold a JSON object, got a "
            f"{type(meta).__name__}; restore it or retrain with `edgecloud forecast train`."
        )
    if meta.get("format") != WEIGHTS_FORMAT or meta.get("format_version") != WEIGHTS_FORMAT_VERSION:
        raise WeightsMismatchError(
            f"{meta_path}: format {meta.get('format')!r} v{meta.get('format_version')} is not "
            f"{WEIGHTS_FORMAT!r} v{WEIGHTS_FORMAT_VERSION}; retrain with `edgecloud forecast train`."
        )
    check_model_version(meta.get("model_version"), f"LSTM weights {path}")
    if meta.get("architecture") != expected:
        raise WeightsMismatchError(
            f"{path}: weights were trained for architecture {meta.get('architecture')}, but this "
            f"forecaster expects {expected}. Pass the matching `architecture=` or retrain with "
            "`edgecloud forecast train`."
        )
    if meta.get("feature_layout") != FEATURE_LAYOUT:
        raise WeightsMismatchError(
            f"{path}: weights were trained for feature layout "
            f"v{(meta.get('feature_layout') or {}).get('version')} "
            f"{meta.get('feature_layout')}, but this version of edgecloud-gym computes "
            f"v{FEATURE_LAYOUT['version']} {FEATURE_LAYOUT}. Retrain with "
            "`edgecloud forecast train`."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise WeightsMismatchError(
            f"LSTM weights {path} cannot be read as a numpy .npz archive ({type(exc).__name__}); "
            "the file is empty, truncated or of another format. Restore it or retrain with "
            "`edgecloud forecast train`."
        ) from None
    for name, array in arrays.items():
        if not np.issubdtype(array.dtype, np.floating):
            raise WeightsMismatchError(
                f"LSTM weights {path}: array {name!r} has dtype {array.dtype}, not a float type; "
                "the file is corrupt or was edited. Restore it or retrain."
            )
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise WeightsMismatchError(
                f"LSTM weights {path}: array {name!r} holds {bad} non-finite value(s) (NaN or "
                f"inf) of {array.size}; the training diverged or the file was edited. Restore "
                "it or retrain with `edgecloud forecast train`."
            )
    shapes = {k: tuple(v.shape) for k, v in arrays.items()}
    if shapes != _expected_shapes(expected):
        raise WeightsMismatchError(
            f"{path}: array shapes {shapes} don't match the architecture {expected} recorded in "
            "the metadata; the file is corrupt or was edited. Retrain or restore it."
        )
    checksum = weights_checksum(arrays)
    if checksum != meta.get("sha256"):
        raise WeightsMismatchError(
            f"{path}: checksum {checksum} doesn't match the metadata's {meta.get('sha256')}; "
            "the weights were changed after training. Restore the file or retrain."
        )
    return arrays, meta


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "the 'lstm' forecaster needs torch: `pip install torch` (a CPU build is enough), or "
            "choose forecaster='ewma', 'naive' or 'none'."
        ) from exc
    return torch


#: Values of ``LSTMForecaster(precision=...)``.
PRECISIONS = ("auto", "float32", "bfloat16")


def _resolve_precision(precision: str) -> str:
    """``"auto"`` -> ``"bfloat16"`` where the CPU has AMX-BF16 tiles, else ``"float32"``."""
    if precision not in PRECISIONS:
        hint = did_you_mean(str(precision), PRECISIONS)
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.{hint}")
    if precision != "auto":
        return precision
    torch = _import_torch()
    check = getattr(getattr(torch, "cpu", None), "_is_amx_tile_supported", None)
    try:
        native = bool(check()) if check is not None else False
    except Exception:  # pragma: no cover - depends on the torch build
        native = False
    return "bfloat16" if native else "float32"


def build_network(arrays: Mapping[str, np.ndarray] | None, architecture: Mapping[str, Any]) -> Any:
    """A torch :class:`~edgecloud_gym.forecasting._torch_model.LSTMNet` for ``architecture``,
    loaded with ``arrays`` when given (imports torch)."""
    torch = _import_torch()
    from edgecloud_gym.forecasting._torch_model import LSTMNet

    net = LSTMNet(
        architecture["input_size"],
        architecture["hidden_size"],
        architecture["num_layers"],
        architecture["horizon"],
    )
    if arrays is not None:
        net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()})
    return net


_buffers = threading.local()


def _input_buffer(torch: Any, shape: tuple[int, int, int], columns: int) -> tuple[Any, Any]:
    """This thread's zero-padded bfloat16 input buffer of ``shape`` for inputs of ``columns``
    features, as a torch tensor and as a numpy uint16 view of its bits; kept until a pass needs
    another one (a pass writes only the first ``columns`` columns, the others stay zero)."""
    key = (shape, columns)
    held = getattr(_buffers, "input", None)
    if held is None or held[0] != key:
        bits = np.zeros(shape, dtype=np.uint16)
        held = _buffers.input = (key, torch.from_numpy(bits).view(torch.bfloat16), bits)
    return held[1], held[2]


@jit
def _bfloat16_bits(x, out):  # pragma: no cover - compiled
    """``out[..., :F] =`` the bfloat16 bits of the float32 ``x`` (m, L, F), given as its uint32
    bits: rounded to nearest, ties to even, as torch converts (a NaN to a quiet NaN). One compiled
    pass, where torch's strided copy into the padded buffer cost ~8 x more."""
    m, length, f = x.shape
    for r in range(m):
        for t in range(length):
            for c in range(f):
                u = x[r, t, c]
                if (u & np.uint32(0x7FFFFFFF)) > np.uint32(0x7F800000):
                    out[r, t, c] = np.uint16(0x7FC0)
                else:
                    rounded = u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))
                    out[r, t, c] = np.uint16(rounded >> np.uint32(16))


class LSTMForecaster:
    """The paper's LSTM forecaster with pretrained weights (shipped ones by default).

    Args:
        weights: ``.npz`` weights written by ``edgecloud forecast train``; None loads
            :data:`DEFAULT_WEIGHTS`.
        architecture: Expected architecture; weights for another one are refused.
            Default :data:`PAPER_ARCHITECTURE` (2 x 64, H = 5).
        context: Steps of history the pass reads before the episode's first forecast (the
            LSTM's window of history). Default :data:`DEFAULT_CONTEXT` (16): on the held-out
            tasks of ``edgecloud forecast eval`` the MAE with 16 steps is within 0.15 % of the
            MAE with the whole 63-step warm-up (docs/forecasting.md), while the pass, which is
            most of the forecaster's cost, runs over 217 instead of 264 steps. None reads the
            whole warm-up.
        precision: Arithmetic of the recurrent layers: ``"float32"``, ``"bfloat16"`` (weights
            and activations rounded to bfloat16, accumulation in float32; the weights are
            trained in float32), or ``"auto"`` (default): bfloat16 where the CPU has AMX-BF16
            tile units, on which oneDNN runs both layers about 30 % faster, float32 elsewhere.
            On the held-out tasks bfloat16 changes the forecasts by 0.02 % on average (at most
            0.8 %) and the MAE by less than 0.01 %; pass ``"float32"`` for forecasts that agree
            across machines to float32 rounding. The resolved choice is :attr:`precision`.

    The forecast horizon asked for by the environment must not exceed the trained horizon.
    """

    name = "lstm"

    def __init__(
        self,
        weights: str | Path | None = None,
        architecture: Mapping[str, Any] | None = None,
        context: int | None = DEFAULT_CONTEXT,
        precision: str = "auto",
    ) -> None:
        if context is not None and (
            isinstance(context, bool) or not isinstance(context, (int, np.integer)) or context < 1
        ):
            raise ValueError(
                f"context must be a positive number of steps or None, got {context!r}."
            )
        self.context = None if context is None else int(context)
        self.weights_path = Path(DEFAULT_WEIGHTS if weights is None else weights)
        arrays, self.metadata = load_weights(self.weights_path, architecture)
        self.architecture: dict[str, Any] = self.metadata["architecture"]
        self.net = build_network(arrays, self.architecture).eval()
        self._head_weight_t = np.ascontiguousarray(arrays["head.weight"].T, dtype=np.float32)
        self._head_bias = np.asarray(arrays["head.bias"], dtype=np.float32)
        self.precision = _resolve_precision(precision)
        if self.precision == "bfloat16":
            from edgecloud_gym.forecasting._torch_model import bfloat16_lstm

            # Zero-weight input columns up to the hidden width: the same network, whose first
            # layer oneDNN then runs on the AMX kernel too (5 input columns don't fit a tile).
            width = max(self.architecture["input_size"], self.architecture["hidden_size"])
            self._recurrent = bfloat16_lstm(self.net.lstm, width)
        else:
            width = self.architecture["input_size"]
            self._recurrent = self.net.lstm
        self._input_width = width

    def predict_log_ratios(self, features: np.ndarray) -> np.ndarray:
        """Run the network over (S, L, F) feature sequences; returns (S, L, H) log-ratios.

        The recurrent layers run in torch, in chunks of :data:`_CHUNK_SEQUENCES` sequences, each
        on one torch thread; the chunks go to the package's thread pool
        (:mod:`edgecloud_gym._threads`), which changes nothing in the numbers since every
        sequence is computed on its own. The linear head is one float32 matrix product per
        chunk in numpy, which at these sizes costs a fraction of torch's call overhead.
        """
        torch = _import_torch()
        from edgecloud_gym.forecasting._torch_model import single_thread

        features = np.ascontiguousarray(features, dtype=np.float32)
        s, length, _ = features.shape
        out = np.empty((s, length, self._head_bias.shape[0]), dtype=np.float32)
        step = _CHUNK_SEQUENCES

        def chunks(first: int, last: int) -> None:  # chunks first..last-1, in any thread
            for i in range(first * step, min(last * step, s), step):
                self._network(torch, features[i : i + step], out[i : i + step])

        with single_thread():  # each pass on one torch thread; the pool's threads share chunks
            run_in_chunks(chunks, -(-s // step), 1, block=1)
        return out

    def _network(self, torch: Any, x: np.ndarray, out: np.ndarray) -> None:
        """The network's log-ratios ``out`` (m, L, H) of one chunk of float32 feature sequences
        ``x`` (m, L, F), m <= :data:`_CHUNK_SEQUENCES` (the size of the input buffer)."""
        m, length, f = x.shape
        rows = _CHUNK_SEQUENCES
        if m > rows:  # the compiled copy below has no bounds checks
            raise ValueError(f"{m} sequences don't fit an input buffer of {rows}.")
        with torch.inference_mode():
            if self.precision == "bfloat16":
                wide, bits = _input_buffer(torch, (rows, length, self._input_width), f)
                _bfloat16_bits(np.ascontiguousarray(x).view(np.uint32), bits[:m])
                inputs = wide[:m]
            else:
                inputs = torch.from_numpy(x)
            hidden = self._recurrent(inputs)[0].float().numpy()
        np.matmul(hidden, self._head_weight_t, out=out)
        out += self._head_bias

    def forecast(self, workload: EpisodeWorkload, horizon: int, scale: np.ndarray) -> np.ndarray:
        """Forecasts (B, steps + 1, N, H) in requests/step (H = ``horizon``)."""
        trained = self.architecture["horizon"]
        if horizon > trained:
            raise ValueError(
                f"horizon {horizon} exceeds the {trained} steps the LSTM weights were trained "
                f"for; use EdgeCloudConfig(horizon<={trained}) or train weights with "
                f"`edgecloud forecast train --horizon {horizon}`."
            )
        w, steps = workload.warmup, workload.steps
        b, _, n = workload.arrivals.shape
        end = w + steps  # the last output needed is at index w + steps - 1
        # The pass starts `context` steps before the first output it needs (index w - 1).
        start = 0 if self.context is None else max(w - 1 - self.context, 0)
        first = w - 1 - start  # index of the first needed output inside the pass
        scale = np.asarray(scale, np.float64)
        feats, level = lstm_features(
            workload.arrivals[:, start:end], workload.phase[:, start:end], scale
        )
        out = np.empty((b, steps + 1, n, horizon))
        log_ratios = self.predict_log_ratios(feats)

        def episodes(lo: int, hi: int) -> None:  # episodes are independent: any split is exact
            _forecasts_kernel(
                log_ratios[lo * n : hi * n], level[lo:hi], scale[lo:hi], first, horizon, out[lo:hi]
            )

        run_in_chunks(episodes, b, _MIN_EPISODES_PER_THREAD, block=_MIN_EPISODES_PER_THREAD)
        return out


class JointLSTMForecaster(LSTMForecaster):
    """The ``"lstm-joint"`` forecaster: :class:`LSTMForecaster` with :data:`JOINT_WEIGHTS`, the
    network trained on episodes of the joint presets (daily ramp and scheduled event), whose
    schedule it learns from the diurnal phase. Takes :class:`LSTMForecaster`'s arguments."""

    name = "lstm-joint"

    def __init__(self, weights: str | Path | None = None, **kwargs: Any) -> None:
        super().__init__(JOINT_WEIGHTS if weights is None else weights, **kwargs)
