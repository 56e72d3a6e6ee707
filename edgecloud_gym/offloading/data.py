"""Loading the published offloading data sets that ship with the package.

Two data sets, both MIT-licensed (see ``data/README.md`` for attribution):

* ``"mumt_3x3"``: ``MUMT_data_3x3.mat`` from DDLO (Huang et al. 2018), 20 000 frames of 3 users x
  3 tasks with the optimal binary offloading decision and its cost.
* ``"droo_5"`` .. ``"droo_9"``: ``data_N.mat`` from DROO (Huang, Bi, Zhang, IEEE TMC 2020),
  10 000 frames of N wireless-powered devices with channel gains, the optimal mode, time
  allocation and weighted sum computation rate.

Each loader accepts one of these names or a path to a ``.mat`` file of the same layout, and raises
``FileNotFoundError`` for a missing file and ``ValueError`` for a malformed one, naming the file,
the variable and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from edgecloud_gym._validation import did_you_mean

__all__ = [
    "BUNDLED_FILES",
    "DATA_DIR",
    "MUMTData",
    "WPMECData",
    "load_mumt_data",
    "load_wpmec_data",
    "resolve_data_file",
]

#: Folder of the bundled ``.mat`` files.
DATA_DIR: Path = Path(__file__).resolve().parent / "data"

#: Bundled data-set names and their file names in :data:`DATA_DIR`.
BUNDLED_FILES: dict[str, str] = {
    "mumt_3x3": "MUMT_data_3x3.mat",
    **{f"droo_{n}": f"data_{n}.mat" for n in range(5, 10)},
}


@dataclass(frozen=True, eq=False)
class MUMTData:
    """DDLO multi-user multi-task frames.

    Attributes:
        task_sizes_mb: shape (R, N, M), task sizes in MB (user-major, as stored row-wise).
        decision: shape (R, N, M), the published optimal decision (1 = offload), int8.
        cost: shape (R,), the published optimal cost ``gain_min`` (J + s, time weight 1).
        path: the file the frames came from.
    """

    task_sizes_mb: np.ndarray
    decision: np.ndarray
    cost: np.ndarray
    path: Path

    @property
    def n_frames(self) -> int:
        """Number of frames R."""
        return int(self.cost.shape[0])


@dataclass(frozen=True, eq=False)
class WPMECData:
    """DROO wireless-powered MEC frames.

    Attributes:
        h: shape (R, N), channel power gains (dimensionless, around 1e-6).
        mode: shape (R, N), the published optimal mode (1 = offload), int8.
        a: shape (R,), the published optimal wireless-power-transfer fraction of the frame.
        tau: shape (R, N), the published optimal offloading time fractions.
        rate: shape (R,), the published optimal weighted sum computation rate ``output_obj``
            (bits/s).
        path: the file the frames came from.
    """

    h: np.ndarray
    mode: np.ndarray
    a: np.ndarray
    tau: np.ndarray
    rate: np.ndarray
    path: Path

    @property
    def n_frames(self) -> int:
        """Number of frames R."""
        return int(self.rate.shape[0])

    @property
    def n_devices(self) -> int:
        """Number of devices N."""
        return int(self.h.shape[1])


def resolve_data_file(data_file: str | Path) -> Path:
    """Return the path of a bundled data set name (``"droo_7"``) or of an existing ``.mat`` file.

    Raises:
        FileNotFoundError: ``data_file`` is neither a bundled name nor an existing file.
    """
    if isinstance(data_file, str) and data_file in BUNDLED_FILES:
        path = DATA_DIR / BUNDLED_FILES[data_file]
        if not path.is_file():
            raise FileNotFoundError(
                f"data_file={data_file!r}: the bundled file {path} is missing; reinstall "
                "edgecloud-gym (its data folder edgecloud_gym/offloading/data is incomplete)."
            )
        return path
    if not isinstance(data_file, (str, Path)):
        raise TypeError(
            f"data_file must be a bundled name ({', '.join(BUNDLED_FILES)}) or a path, "
            f"got {data_file!r} ({type(data_file).__name__})."
        )
    path = Path(data_file).expanduser()
    if not path.is_file():
        hint = did_you_mean(str(data_file), BUNDLED_FILES)
        raise FileNotFoundError(
            f"data_file={str(data_file)!r} is neither a bundled data set nor an existing "
            f"file.{hint} "
            f"Bundled names: {', '.join(BUNDLED_FILES)}."
        )
    return path


def _load_mat(path: Path) -> dict[str, np.ndarray]:
    try:
        return scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several types for a corrupt file
        raise ValueError(
            f"data file {path} could not be read as a MATLAB .mat file ({type(exc).__name__}: "
            f"{exc}). Pass a bundled name ({', '.join(BUNDLED_FILES)}) or a valid .mat file."
        ) from exc


def _variable(mat: dict[str, np.ndarray], key: str, path: Path) -> np.ndarray:
    if key not in mat:
        present = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(
            f"data file {path} has no variable {key!r}; it holds {present}. "
            "Expected the layout of the published data set."
        )
    arr = np.asarray(mat[key])
    if not np.issubdtype(arr.dtype, np.number) or arr.ndim != 2:
        raise ValueError(
            f"data file {path}: variable {key!r} must be a 2-D numeric array, "
            f"got dtype {arr.dtype} with shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"data file {path}: variable {key!r} contains NaN or inf.")
    return arr


def _in_range(arr: np.ndarray, key: str, path: Path, low: float, high: float, what: str) -> None:
    """Raise naming the file, the variable and the first row outside ``(low, high]``."""
    bad = np.argwhere((arr <= low) | (arr > high))
    if bad.size:
        row = int(bad[0][0])
        raise ValueError(
            f"data file {path}: variable {key!r} must lie in ({low:g}, {high:g}] ({what}), got "
            f"{arr[tuple(bad[0])]!r} in row {row} ({len(bad)} value(s) outside); fix or drop "
            "those rows (values scaled by a wrong unit factor?)."
        )


def _binary(arr: np.ndarray, key: str, path: Path) -> np.ndarray:
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"data file {path}: variable {key!r} must hold only 0 and 1.")
    return arr.astype(np.int8)


def _expect_shape(arr: np.ndarray, shape: tuple[int, ...], key: str, path: Path) -> None:
    if arr.shape != shape:
        raise ValueError(
            f"data file {path}: variable {key!r} must have shape {shape}, got {arr.shape}."
        )


def load_mumt_data(
    data_file: str | Path = "mumt_3x3", n_users: int = 3, n_tasks: int = 3
) -> MUMTData:
    """Load DDLO multi-user multi-task frames (``task_size``, ``gain_mode``, ``gain_min``).

    Args:
        data_file: a bundled name (``"mumt_3x3"``) or a path to a ``.mat`` file of that layout.
        n_users: number of users N in the file.
        n_tasks: number of tasks per user M in the file; each row holds N x M sizes, user-major.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a ``.mat`` file, lacks a variable, or has inconsistent shapes,
            negative sizes or a non-binary decision.
    """
    path = resolve_data_file(data_file)
    mat = _load_mat(path)
    sizes = _variable(mat, "task_size", path)
    mode = _variable(mat, "gain_mode", path)
    cost = _variable(mat, "gain_min", path).reshape(-1)
    rows = sizes.shape[0]
    _expect_shape(sizes, (rows, n_users * n_tasks), "task_size", path)
    _expect_shape(mode, (rows, n_users * n_tasks), "gain_mode", path)
    _expect_shape(cost, (rows,), "gain_min", path)
    _in_range(sizes, "task_size", path, 0.0, 1e4, "MB per task, its plausible range")
    return MUMTData(
        task_sizes_mb=sizes.astype(np.float64).reshape(rows, n_users, n_tasks),
        decision=_binary(mode, "gain_mode", path).reshape(rows, n_users, n_tasks),
        cost=cost.astype(np.float64),
        path=path,
    )


def load_wpmec_data(data_file: str | Path | int) -> WPMECData:
    """Load DROO wireless-powered MEC frames.

    Args:
        data_file: a bundled name (``"droo_5"`` .. ``"droo_9"``), the number of devices (5..9) as
            a shortcut for the bundled file, or a path to a ``.mat`` file of the same layout
            (``input_h``, ``output_mode``, ``output_a``, ``output_tau``, ``output_obj``).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is malformed (missing variable, inconsistent shapes, negative gains,
            non-binary mode).
    """
    if isinstance(data_file, (int, np.integer)) and not isinstance(data_file, bool):
        data_file = f"droo_{int(data_file)}"
    path = resolve_data_file(data_file)
    mat = _load_mat(path)
    h = _variable(mat, "input_h", path).astype(np.float64)
    rows, n = h.shape
    mode = _variable(mat, "output_mode", path)
    a = _variable(mat, "output_a", path).reshape(-1)
    tau = _variable(mat, "output_tau", path)
    rate = _variable(mat, "output_obj", path).reshape(-1)
    _expect_shape(mode, (rows, n), "output_mode", path)
    _expect_shape(tau, (rows, n), "output_tau", path)
    _expect_shape(a, (rows,), "output_a", path)
    _expect_shape(rate, (rows,), "output_obj", path)
    _in_range(h, "input_h", path, -np.inf, 1.0, "channel power gains, at most 1")
    if np.any(h < 0):
        raise ValueError(f"data file {path}: variable 'input_h' (channel gains) must be >= 0.")
    return WPMECData(
        h=h,
        mode=_binary(mode, "output_mode", path),
        a=a.astype(np.float64),
        tau=tau.astype(np.float64),
        rate=rate.astype(np.float64),
        path=path,
    )
