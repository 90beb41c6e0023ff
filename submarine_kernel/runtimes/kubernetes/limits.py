"""What each Kubernetes API cannot run: names too long for the host names its pods get, and its own limits
(a plain Job's, Trainer v2's). Checked once the API is known (`KubernetesRuntime.check`)."""

from __future__ import annotations

from ...names import dns1035_problems
from ...spec import JobSpec
from .api_choice import ApiChoice, kind_for
from .manifests import plain_job_problems
from .options import ClusterOptions
from .trainer import host_suffix, trainer_problems


def api_limits(spec: JobSpec, choice: ApiChoice, options: ClusterOptions) -> list[str]:
    """What the API of `choice` cannot run: names too long for its pods' host names, and its own limits."""
    kind = kind_for(choice, spec)
    if kind.operator:  # the operator names a Service per replica: <job>-<type>-<index>, a DNS label
        suffix = max((len(f"-{role}-{r.replicas - 1}") for role, r in spec.roles.items()), default=0)
    elif kind.custom:  # JobSet pods: <job>-<replicated job>-0-<index>
        suffix = host_suffix(spec)
    else:  # Indexed Job pods are hosts named <job>-<index>
        suffix = len(f"-{max(spec.replica_count - 1, 0)}")
    problems = dns1035_problems(spec.name, max_length=63 - suffix)
    if kind.custom and not kind.operator:
        problems += trainer_problems(spec, options)
    elif not kind.operator:
        problems += plain_job_problems(spec, options)
    return problems
