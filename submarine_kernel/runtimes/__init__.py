"""Runtimes, found by name: see `base.runtime_class`."""

from .base import JobRef, JobState, JobStatus, ReplicaStatus, Runtime, register_runtime, runtime_class, runtime_names

__all__ = ["JobRef", "JobState", "JobStatus", "ReplicaStatus", "Runtime", "register_runtime", "runtime_class",
           "runtime_names"]
