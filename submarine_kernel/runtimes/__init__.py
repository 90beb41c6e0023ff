"""Runtimes, found by name: see `base.runtime_class`. The job types they report live in `submarine_kernel.job_types`."""

from .base import Runtime, register_runtime, runtime_class, runtime_names

__all__ = ["Runtime", "register_runtime", "runtime_class", "runtime_names"]
