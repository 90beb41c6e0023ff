"""Configuration through traitlets: `ipython_config.py`, `%config SubmarineConfig.runtime = ...` and
`SUBMARINE_*` environment variables (which give the defaults, so a config file still wins)."""

from __future__ import annotations

import os
from pathlib import Path

from traitlets import Bool, Dict, Float, TraitError, Unicode, default, validate
from traitlets.config import Configurable

_APP = "submarine-kernel"


def data_dir() -> Path:
    """Where the registry, job folders and default bundle store live (SUBMARINE_DATA_DIR overrides)."""
    override = os.environ.get("SUBMARINE_DATA_DIR")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir(_APP, appauthor=False))


def private_dir(path: Path) -> Path:
    """Create `path` readable by its user only (job logs and the registry may hold private data)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


class SubmarineConfig(Configurable):
    """Session defaults shared by the magics, the Python API and the command line."""

    runtime = Unicode(help="Runtime used when a run names none: local, kubernetes, yarn, or a plugin's name.",
                      ).tag(config=True)
    storage_root = Unicode(help="fsspec URL under which bundles are stored (file://, s3://, hdfs://).",
                           ).tag(config=True)
    storage_options = Dict(help="Extra keyword arguments for the storage's fsspec file system "
                                "(never printed: may hold credentials).").tag(config=True)
    framework = Unicode("pytorch", help="Framework used when a run names none.").tag(config=True)
    image = Unicode("", help="Container image used when a run names none (cluster runtimes).").tag(config=True)
    poll_interval = Float(help="Seconds between two status polls of the tracker.").tag(config=True)
    user = Unicode(help="User name for job names and labels.").tag(config=True)
    progress = Bool(True, help="Show a progress bar for large uploads.").tag(config=True)

    @validate("runtime")
    def _known_runtime(self, proposal):
        """A misspelt runtime (`runtime=kubernets`) is refused when set, not on every later run."""
        from .runtimes.base import runtime_names

        if proposal.value not in runtime_names():
            raise TraitError(f"unknown runtime {proposal.value!r}: use one of {', '.join(runtime_names())}")
        return proposal.value

    @default("runtime")
    def _default_runtime(self):
        return os.environ.get("SUBMARINE_RUNTIME", "local")

    @default("storage_root")
    def _default_storage_root(self):
        return os.environ.get("SUBMARINE_STORAGE_ROOT") or (data_dir() / "bundles").as_uri()

    @default("poll_interval")
    def _default_poll_interval(self):
        return float(os.environ.get("SUBMARINE_POLL_INTERVAL", "1.0"))

    @default("user")
    def _default_user(self):
        from .names import login_name

        return login_name()
