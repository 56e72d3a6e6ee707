"""The zoo's one persistence layer: the agent file format, torch checkpoints, atomic writes.

**The agent file.** Every agent of both families (allocation and offloading) saves one zip
archive with two entries:

* ``agent.json``: the format (``"edgecloud-agent"``), its version (:data:`FORMAT_VERSION`), the
  model version of the simulator that made it (:data:`edgecloud_gym.MODEL_VERSION`), the agent's
  registry name, its family and its configuration (hyperparameters, settings, counters), all
  plain JSON;
* ``weights.pt`` (agents with weights only): a nested dict of tensors written by
  :func:`torch.save` and read with ``torch.load(weights_only=True)``, whose restricted reader
  accepts tensors, numbers, strings and containers and refuses any other object.

Loading never unpickles arbitrary objects, so a file from anywhere can be read without running
code. Stable-Baselines3's own zip stores objects with cloudpickle; reading it can run any code
the file's author chose. Such a file is refused unless the caller opts in with ``trusted=True``
(``--trust-pickle`` on the command line); :func:`load_sb3_zip` is the only place that reads one.

Meta-initialisations and training checkpoints are single torch files written by
:func:`save_torch` and read by :func:`load_torch` (again ``weights_only=True``).

One module on purpose, above the zoo's usual size: every byte an agent writes or reads passes
here, so the checks that make loading safe (no unpickling, finite weights, the model version, the
one opt-in door to a Stable-Baselines3 zip) stand in one place that a reviewer can audit whole.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecloud_gym.model_version import MODEL_VERSION, check_model_version

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "HEADER_ENTRY",
    "WEIGHTS_ENTRY",
    "AgentFile",
    "AgentFileError",
    "atomic_write_bytes",
    "atomic_write_json",
    "check_finite_weights",
    "load_sb3_zip",
    "load_torch",
    "read_agent_file",
    "rebuild_sb3",
    "rebuild_sb3_dqn",
    "save_torch",
    "sb3_state",
    "torch_bytes",
    "write_agent_file",
]

#: The ``format`` field of every agent file.
FORMAT = "edgecloud-agent"
#: The version of the agent file format this package writes and reads.
FORMAT_VERSION = 1
#: Zip entry holding the JSON header.
HEADER_ENTRY = "agent.json"
#: Zip entry holding the weights (a torch file of tensors).
WEIGHTS_ENTRY = "weights.pt"

#: JSON entries by which earlier versions of the zoo marked their SB3 zips.
_LEGACY_ENTRIES = ("edgecloud_agent.json", "edgecloud_offload_agent.json")

#: What reading a Stable-Baselines3 zip risks, for error messages and ``--help``.
PICKLE_RISK = (
    "its 'data' entry holds cloudpickled objects, and reading them can run any code its author "
    "chose on this machine"
)


class AgentFileError(ValueError):
    """A file is not a readable agent file (the message names the file and the fix)."""


# ------------------------------------------------------------------------------ atomic writes


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The folder is created if needed; an unwritable one raises ``OSError`` naming it. A crash
    never leaves a half-written file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    """Plain equivalents of numpy values and paths; anything else is refused by ``json``."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} value {value!r} cannot be saved as JSON")


def atomic_write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


# ------------------------------------------------------------------------------ torch files


def torch_bytes(obj: Any) -> bytes:
    """``obj`` (tensors, numbers, strings, containers) as the bytes :func:`torch.save` writes."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_torch(obj: Any, path: str | Path) -> None:
    """Write ``obj`` with :func:`torch.save` to ``path``, atomically (checkpoints, meta-inits)."""
    atomic_write_bytes(path, torch_bytes(obj))


def load_torch(source: str | Path | bytes, what: str, fix: str) -> Any:
    """Read a torch file with ``weights_only=True`` (no arbitrary objects, so no code runs).

    Args:
        source: A path, or the file's bytes.
        what: The kind of file, for messages (e.g. ``"meta-training checkpoint"``).
        fix: What to do when the file is missing or unreadable, for messages.

    Raises:
        FileNotFoundError: The path does not exist.
        AgentFileError: It is a folder, or not a torch file of plain data (truncated, another
            format, or a file holding objects other than tensors and containers).
    """
    import torch

    if isinstance(source, bytes):
        where, stream = what, io.BytesIO(source)
    else:
        path = Path(source)
        _check_is_file(path, what, fix)
        where, stream = f"{what} {path}", path.open("rb")
    try:
        with stream:
            return torch.load(stream, map_location="cpu", weights_only=True)
    except Exception as exc:
        # torch's own message suggests weights_only=False, which would run the file's code:
        # say what is wrong in our words instead
        text = str(exc)
        found = re.search(r"GLOBAL ([\w.]+)|Unsupported global: GLOBAL ([\w.]+)", text)
        if found:
            reason = (
                "it holds Python objects other than tensors and plain containers, e.g. "
                f"{found.group(1) or found.group(2)}, which would run code if unpickled"
            )
        elif "Weights only load failed" in text or isinstance(exc, EOFError) or not text:
            reason = "its contents are not a torch pickle: empty, truncated or another format"
        else:
            reason = text.splitlines()[0]
        raise AgentFileError(
            f"{where} cannot be read as a torch file of tensors ({reason}); it is truncated, of "
            f"another format or unsafe to unpickle. {fix}"
        ) from None


def _check_is_file(path: Path, what: str, fix: str) -> None:
    if path.is_dir():
        raise AgentFileError(f"{what} {path} is a folder, not a file; pass the file itself. {fix}")
    if not path.exists():
        raise FileNotFoundError(f"no {what} at {path}. {fix}")
    if not path.is_file():
        raise AgentFileError(f"{what} {path} is not a regular file (a device or a pipe?). {fix}")


def _tensors(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every tensor of a nested dict / list, with its slash-separated key."""
    import torch

    if isinstance(tree, torch.Tensor):
        yield prefix, tree
    elif isinstance(tree, Mapping):
        for key, value in tree.items():
            yield from _tensors(value, f"{prefix}/{key}" if prefix else str(key))
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            yield from _tensors(value, f"{prefix}/{i}" if prefix else str(i))


def check_finite_weights(weights: Any, where: str) -> None:
    """Raise :class:`AgentFileError` naming ``where`` and the tensor if any value is NaN or inf."""
    import torch

    for key, tensor in _tensors(weights):
        if tensor.is_floating_point() or tensor.is_complex():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                raise AgentFileError(
                    f"{where}: tensor {key!r} holds {bad} non-finite value(s) (NaN or inf) of "
                    f"{tensor.numel()}; the file is corrupt or its training diverged. Retrain the "
                    "agent (a smaller learning rate helps divergence) or use another file."
                )


# ------------------------------------------------------------------------------ agent files


@dataclass(frozen=True)
class AgentFile:
    """The contents of an agent file (see the module docstring).

    Attributes:
        path: Where it was read from.
        agent: The registry name of the agent it holds (None: a foreign SB3 zip that says not).
        family: ``"allocation"`` or ``"offloading"`` (None when unknown).
        config: The agent's JSON configuration.
        weights: The nested dict of tensors (empty for agents without weights).
        sb3_zip: True for a Stable-Baselines3 zip read with ``trusted=True``: ``config`` then
            holds what the zip's own JSON entry records (if any) and the model is read by
            :func:`load_sb3_zip`.
    """

    path: Path
    agent: str | None
    family: str | None
    config: dict[str, Any]
    weights: dict[str, Any]
    sb3_zip: bool = False

    def require(self, key: str) -> Any:
        """``config[key]``, or :class:`AgentFileError` naming the file and the missing key."""
        if key not in self.config:
            raise AgentFileError(
                f"agent file {self.path} has no {key!r} in its configuration; it is incomplete "
                "or from another program. Save the agent again with agent.save(path)."
            )
        return self.config[key]

    def weight(self, key: str) -> Any:
        """``weights[key]``, or :class:`AgentFileError` naming the file and the missing tensor."""
        if key not in self.weights:
            raise AgentFileError(
                f"agent file {self.path} has no {key!r} weights (it holds "
                f"{sorted(self.weights)}); it is incomplete. Save the agent again."
            )
        return self.weights[key]


def write_agent_file(
    path: str | Path,
    *,
    agent: str,
    family: str,
    config: Mapping[str, Any],
    weights: Mapping[str, Any] | None = None,
) -> None:
    """Write an agent file to ``path`` (exactly that name), atomically.

    Args:
        path: The file to write.
        agent: The agent's registry name.
        family: ``"allocation"`` or ``"offloading"``.
        config: Everything but the weights, as JSON (numbers must be finite).
        weights: A nested dict of tensors (None: the agent has none).

    Raises:
        ValueError: ``config`` holds a non-finite number or a value JSON cannot hold.
    """
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_version": MODEL_VERSION,
        "agent": agent,
        "family": family,
        "config": dict(config),
    }
    try:
        text = json.dumps(header, indent=2, sort_keys=True, allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"cannot save agent {agent!r} to {path}: its configuration {exc}; only finite "
            "numbers, strings, lists and dicts can be saved."
        ) from None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        # fixed entry dates: the same agent gives the same bytes
        archive.writestr(_entry(HEADER_ENTRY), text + "\n")
        if weights is not None:
            archive.writestr(_entry(WEIGHTS_ENTRY), torch_bytes(dict(weights)))
    atomic_write_bytes(path, buffer.getvalue())


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


_FIX = "Save the agent again with agent.save(path) (or 'edgecloud train')."


def read_agent_file(
    path: str | Path | AgentFile, *, agents: Collection[str] | None = None, trusted: bool = False
) -> AgentFile:
    """Read and check an agent file; no code in it runs.

    Args:
        path: A file written by an agent's ``save``, or one already read (returned as it is, so
            that a class's ``load`` accepts either).
        agents: The agent names the caller can build (checked against the file's).
        trusted: Accept a Stable-Baselines3 zip (whose reading may run code; see the module
            docstring). Its model is then read by :func:`load_sb3_zip`.

    Raises:
        FileNotFoundError: No file at ``path``.
        AgentFileError: A folder, a truncated or foreign file, an SB3 zip without ``trusted``,
            another format version, another model version, an agent not in ``agents``, or
            non-finite weights; the message names the file, what is wrong and the fix.
    """
    if isinstance(path, AgentFile):
        return path
    path = Path(path)
    _check_is_file(path, "saved agent", _FIX)
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if HEADER_ENTRY not in names:
                return _foreign_zip(path, archive, names, agents, trusted)
            raw = archive.read(HEADER_ENTRY)
            blob = archive.read(WEIGHTS_ENTRY) if WEIGHTS_ENTRY in names else None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno:
            raise  # a real I/O error (permissions, disk): its own message is the clearest
        raise AgentFileError(
            f"{path} is not a saved agent: not a complete, readable zip archive (empty, truncated, "
            f"damaged or another kind of file). {_FIX}"
        ) from None
    header = _parse_header(path, raw)
    name = header.get("agent")
    if agents is not None and name not in agents:
        raise AgentFileError(
            f"{path} holds agent {name!r}, which this loader cannot build (it builds "
            f"{', '.join(sorted(agents))}); load it with edgecloud_agents.registry.load_agent."
        )
    weights: dict[str, Any] = {}
    if blob is not None:
        data = load_torch(blob, f"the weights of agent file {path}", _FIX)
        if not isinstance(data, dict):
            raise AgentFileError(f"{path}: its weights are not a dict of tensors. {_FIX}")
        check_finite_weights(data, f"agent file {path}")
        weights = data
    return AgentFile(path, name, header.get("family"), header["config"], weights)


def _parse_header(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AgentFileError(
            f"{path}: its {HEADER_ENTRY} is not valid JSON ({exc}); the file is corrupt. {_FIX}"
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise AgentFileError(
            f"{path}: its {HEADER_ENTRY} is not an edgecloud agent header (format "
            f"{header.get('format') if isinstance(header, dict) else type(header).__name__!r}, "
            f"expected {FORMAT!r}). {_FIX}"
        )
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise AgentFileError(
            f"{path} uses agent file format version {version!r}, but this installation reads "
            f"version {FORMAT_VERSION}; install the package version that wrote it, or save the "
            "agent again with this one."
        )
    check_model_version(header.get("model_version"), f"agent file {path}")
    for key, kind in (("agent", str), ("family", str), ("config", dict)):
        if not isinstance(header.get(key), kind):
            raise AgentFileError(
                f"{path}: its {HEADER_ENTRY} has no valid {key!r} (expected {kind.__name__}, got "
                f"{header.get(key)!r}). {_FIX}"
            )
    return header


def _foreign_zip(
    path: Path,
    archive: zipfile.ZipFile,
    names: set[str],
    agents: Collection[str] | None,
    trusted: bool,
) -> AgentFile:
    """A zip without our header: an SB3 zip (read only when trusted) or something else."""
    if "data" not in names:
        raise AgentFileError(
            f"{path} is a zip archive but not a saved agent (no {HEADER_ENTRY}; it holds "
            f"{sorted(names)[:5]}). {_FIX}"
        )
    if not trusted:
        raise AgentFileError(
            f"{path} is a Stable-Baselines3 zip, not an edgecloud agent file: {PICKLE_RISK}. "
            "It is refused by default. If you trust who made it, load it with trusted=True "
            "(on the command line: --trust-pickle), then save it again with agent.save(path) "
            "to get a safe file."
        )
    config: dict[str, Any] = {}
    for entry in _LEGACY_ENTRIES:
        if entry in names:
            try:
                legacy = json.loads(archive.read(entry))
            except (UnicodeDecodeError, json.JSONDecodeError):
                legacy = None
            if isinstance(legacy, dict):
                config = legacy
    name = config.get("agent")
    if name is not None and agents is not None and name not in agents:
        raise AgentFileError(f"{path} holds agent {name!r}, not one of {sorted(agents)}.")
    return AgentFile(path, name, None, config, {}, sb3_zip=True)


def load_sb3_zip(file: AgentFile, build: Callable[..., Any], env: Any = None) -> Any:
    """Read the model of a trusted Stable-Baselines3 zip with ``build.load`` (SB3's own reader).

    Args:
        file: From :func:`read_agent_file` with ``trusted=True``; ``file.sb3_zip`` must be True.
        build: The SB3 algorithm class (e.g. ``stable_baselines3.DQN``).
        env: The env to attach (None: act only).
    """
    if not file.sb3_zip:
        raise AgentFileError(f"{file.path} is an edgecloud agent file, not an SB3 zip.")
    try:
        return build.load(file.path, env=env, device="cpu")
    except Exception as exc:
        raise AgentFileError(
            f"{file.path}: Stable-Baselines3 could not read it as a {build.__name__} "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); it is "
            "corrupt, of another algorithm, or its spaces do not fit the env."
        ) from None


# ------------------------------------------------------------------------------ SB3 models


def sb3_state(model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """What an agent file keeps of an SB3 DQN: (JSON config, weights).

    The config holds the spaces' sizes and the training counters; the weights are SB3's own
    :meth:`get_parameters` (the policy's and the optimizer's state dicts).
    """
    import numpy as np

    config: dict[str, Any] = {"obs_shape": [int(n) for n in model.observation_space.shape]}
    if hasattr(model.action_space, "n"):
        config["n_actions"] = int(model.action_space.n)
    else:  # a box (PPO in the continuous or weights mode)
        space = model.action_space
        config["action_box"] = {
            "shape": [int(n) for n in space.shape],
            "low": float(np.min(space.low)),
            "high": float(np.max(space.high)),
        }
    config["num_timesteps"] = int(model.num_timesteps)
    config["n_updates"] = int(getattr(model, "_n_updates", 0))
    if hasattr(model, "exploration_rate"):
        config["exploration_rate"] = float(model.exploration_rate)
    config["seed"] = model.seed
    return config, model.get_parameters()


def rebuild_sb3_dqn(
    file: AgentFile, kwargs: Mapping[str, Any], env: Any = None, policy_key: str = "sb3"
) -> Any:
    """An SB3 DQN built from hyperparameters ``kwargs`` with the weights of ``file``
    (:func:`rebuild_sb3` with DQN)."""
    from stable_baselines3 import DQN

    return rebuild_sb3(file, DQN, kwargs, env, policy_key)


def rebuild_sb3(
    file: AgentFile,
    algorithm: Any,
    kwargs: Mapping[str, Any],
    env: Any = None,
    policy_key: str = "sb3",
) -> Any:
    """An SB3 model of class ``algorithm`` (DQN, PPO) built from hyperparameters ``kwargs``
    with the weights of ``file``.

    Args:
        file: An agent file whose config holds :func:`sb3_state`'s keys under ``policy_key``
            and whose weights hold its parameters under the same key.
        algorithm: The SB3 class the agent was built with.
        kwargs: Its keyword arguments (as the agent was built with).
        env: The env to attach (None: act only); its spaces must match the saved ones.
        policy_key: Where the model's config and weights sit in the file.

    Raises:
        AgentFileError: The env's spaces or the network do not match the saved weights.
    """
    import gymnasium as gym
    import numpy as np

    state = file.require(policy_key)
    if (
        not isinstance(state, dict)
        or "obs_shape" not in state
        or ("n_actions" not in state and "action_box" not in state)
    ):
        raise AgentFileError(f"agent file {file.path}: {policy_key!r} is incomplete. {_FIX}")
    obs_shape = tuple(state["obs_shape"])
    if "n_actions" in state:
        action_space: Any = gym.spaces.Discrete(int(state["n_actions"]))
        what = f"{int(state['n_actions'])} actions"
    else:
        box = state["action_box"]
        action_space = gym.spaces.Box(box["low"], box["high"], tuple(box["shape"]), np.float32)
        what = f"actions of shape {tuple(box['shape'])}"
    seed = state.get("seed")
    if env is not None:
        shape = tuple(getattr(env.observation_space, "shape", None) or ())
        if shape != obs_shape or env.action_space != action_space:
            raise AgentFileError(
                f"agent file {file.path} holds agent {file.agent!r} for observations of shape "
                f"{obs_shape} and {what}, but the env given has shape {shape} and action space "
                f"{env.action_space}; make the env with make_env_for({file.agent!r}, env_id) (the "
                "same forecaster and action mode it was trained with)."
            )
        model = algorithm("MlpPolicy", env, device="cpu", seed=seed, **kwargs)
    else:
        model = algorithm(
            "MlpPolicy", None, device="cpu", seed=seed, _init_setup_model=False, **kwargs
        )
        model.observation_space = gym.spaces.Box(-np.inf, np.inf, obs_shape, np.float32)
        model.action_space = action_space
        model.n_envs = 1
        model._setup_model()
    try:
        model.set_parameters(file.weight(policy_key), exact_match=True, device="cpu")
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AgentFileError(
            f"agent file {file.path}: its weights do not fit the network its hyperparameters "
            f"build ({first}); the file is corrupt or was edited. {_FIX}"
        ) from None
    model.num_timesteps = int(state.get("num_timesteps", 0))
    model._n_updates = int(state.get("n_updates", 0))
    if hasattr(model, "exploration_rate"):
        model.exploration_rate = float(state.get("exploration_rate", model.exploration_rate))
    return model
