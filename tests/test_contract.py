"""The replica contract is one rule: what each replica of a probe job sees on the local runtime (real processes)
is what every runtime's dry run gives it (YARN's launch script run as a container would, each Kubernetes API's
pods run as the kubelet and the training operator would start them).

The probe's launch command prints what the replica sees (`env`), on every runtime. Locally, where the job
ends when its deciding replica does, every replica then waits for the others to have printed theirs.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

import submarine_kernel as sk
from submarine_kernel import contract
from submarine_kernel.session import default_session

from test_yarn_service import launch_like_yarn

FILES = {"probe.py": "print('probe')\n"}
SHAPES = {"tensorflow": dict(workers=2, ps=1), "pytorch": dict(workers=3), "xgboost": dict(workers=2),
          "custom": dict(workers=2)}
PATHS = dict(input_path="/data/in", checkpoint_path="/data/ckpt/probe")
#: every variable the contract may set (the rest of a replica's environment is the runtime's own)
CONTRACT = ("TF_CONFIG", "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "PYTHONUNBUFFERED",
            "SUBMARINE_JOB_NAME", "SUBMARINE_FRAMEWORK", "SUBMARINE_ROLE", "SUBMARINE_REPLICA_INDEX",
            "SUBMARINE_INPUT_PATH", "SUBMARINE_CHECKPOINT_PATH")


def contract_view(env: dict[str, str]) -> dict:
    """The contract's variables as code relies on them: addresses become their shape (runtimes name hosts
    their own way), everything else must be equal to the letter."""
    view = {k: v for k, v in env.items() if k in CONTRACT}
    if "TF_CONFIG" in view:
        config = json.loads(view["TF_CONFIG"])
        view["TF_CONFIG"] = {"cluster": {role: len(addresses) for role, addresses in config["cluster"].items()},
                             "task": config["task"], "environment": config["environment"]}
    if "MASTER_ADDR" in view:
        assert view["MASTER_ADDR"] and view["MASTER_PORT"].isdigit()
        view["MASTER_ADDR"], view["MASTER_PORT"] = "<deciding replica>", "<port>"
    return view


def parse_env_output(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and line.split("=", 1)[0].isidentifier())


def name_of(framework: str) -> str:
    return f"probe-{framework[:4]}"


def probe_command(framework: str) -> str:
    """`env`, then (where PROBE_DIR is set: the local run, whose replicas inherit this process's environment, and
    the real YARN containers, given it in the spec's env) a barrier: the job ends with its deciding replica, which
    must not end the others before they print (or, on YARN, before they get containers)."""
    count = sum(SHAPES[framework].values())  # --workers counts every training replica, plus --ps
    mark = '"$PROBE_DIR/$SUBMARINE_JOB_NAME-$SUBMARINE_ROLE-$SUBMARINE_REPLICA_INDEX"'
    return (f'env; if [ -n "$PROBE_DIR" ]; then touch {mark}; n=0; '
            f'while [ "$(ls "$PROBE_DIR" | grep -c "^$SUBMARINE_JOB_NAME-")" -lt {count} ] && [ $n -lt 1200 ]; '
            'do sleep 0.1; n=$((n+1)); done; fi')


def probe(framework: str, runtime: str = "local", dry_run: bool = False):
    return sk.submit(probe_command(framework), files=FILES, name=name_of(framework), framework=framework, runtime=runtime,
                     image="repo/probe:1", dry_run=dry_run, **SHAPES[framework], **PATHS)


def same_master_everywhere(seen: dict[tuple[str, int], dict[str, str]]) -> None:
    masters = {(env.get("MASTER_ADDR"), env.get("MASTER_PORT")) for env in seen.values()}
    assert len(masters) == 1, masters


# -- what replicas see: the local runtime, real processes -----------------------------------------------
@pytest.fixture(scope="module")
def local_seen(tmp_path_factory) -> dict[str, dict[tuple[str, int], dict]]:
    """framework → (role, index) → the contract view each local replica printed."""
    from submarine_kernel import session

    with pytest.MonkeyPatch.context() as patched:  # one data folder for the module's four jobs
        patched.setenv("SUBMARINE_DATA_DIR", str(tmp_path_factory.mktemp("contract-local")))
        patched.setenv("PROBE_DIR", str(tmp_path_factory.mktemp("contract-barrier")))
        session.set_default_session(None)
        try:
            jobs = {framework: probe(framework) for framework in SHAPES}
            out = {}
            for framework, job in jobs.items():
                assert job.wait(timeout=120).state.value == "SUCCEEDED", job.logs()
                seen = {(role, index): parse_env_output(job.logs(f"{role}-{index}"))
                        for role, index in contract.replica_names(job.spec)}
                same_master_everywhere(seen)
                out[framework] = {key: contract_view(env) for key, env in seen.items()}
            return out
        finally:
            session.default_session().close()
            session.set_default_session(None)


def test_local_replicas_see_the_rule_of_their_framework(local_seen):
    worker0 = {framework: seen[("worker", 0)] for framework, seen in local_seen.items()}
    assert set(worker0["tensorflow"]) == set(CONTRACT) - {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK",
                                                           "LOCAL_RANK"}
    assert worker0["tensorflow"]["TF_CONFIG"] == {"cluster": {"worker": 2, "ps": 1}, "environment": "cloud",
                                                 "task": {"type": "worker", "index": 0}}
    for framework in ("pytorch", "xgboost"):
        assert set(worker0[framework]) == set(CONTRACT) - {"TF_CONFIG"}
        assert local_seen[framework][("master", 0)]["RANK"] == "0" and worker0[framework]["RANK"] == "1"
    # custom: both, so that its replicas can find each other whatever they run
    assert set(worker0["custom"]) == set(CONTRACT)
    assert local_seen["custom"][("worker", 1)]["RANK"] == "1"
    assert worker0["pytorch"]["WORLD_SIZE"] == "3"
    assert worker0["pytorch"]["SUBMARINE_CHECKPOINT_PATH"] == "/data/ckpt/probe"


# -- what each runtime's dry run gives them ---------------------------------------------------------------
def local_dry_run(framework: str, tmp_path: Path) -> dict[tuple[str, int], dict[str, str]]:
    text = probe(framework, dry_run=True)
    seen = {}
    lines = text.splitlines()
    for header, line in zip(lines, lines[1:]):
        if header.startswith("# ") and " in " in header and line.startswith("env "):
            role, index = header[2:].split(" in ")[0].rsplit("-", 1)
            words = shlex.split(line)
            seen[(role, int(index))] = dict(w.split("=", 1) for w in words[1:words.index("/bin/sh")])
    return seen


def yarn_dry_run(framework: str, tmp_path: Path) -> dict[tuple[str, int], dict[str, str]]:
    from submarine_kernel.runtimes.yarn import service as ys

    yarn = default_session().runtime("yarn")
    yarn.rm_urls, yarn.registry_dns_domain, yarn.shared_file_storage = ["http://rm:8088"], "ml.example.com", True
    text = probe(framework, runtime="yarn", dry_run=True)
    body = text.split("\n", 1)[1]
    service = json.loads(body[:body.index("\n\n# the same job")])
    components = {c["name"]: c for c in service["components"]}
    seen = {}
    for plan in ys.component_plan(_spec(framework)):
        for instance in range(plan.count):
            workdir = tmp_path / f"{framework}-{plan.name}-{instance}"
            done = launch_like_yarn(components[plan.name], service, instance, workdir,
                                    {k: v.encode() for k, v in FILES.items()})
            assert done.returncode == 0, (workdir / "stderr.txt").read_text()
            seen[(plan.role, plan.role_index(instance))] = parse_env_output((workdir / "stdout.txt").read_text())
    return seen


def _spec(framework: str):
    return build_probe_spec(framework)


def build_probe_spec(framework: str, **options):
    """The probe's spec as `probe` submits it (without an image: YARN would then ask for Docker)."""
    from submarine_kernel.spec import build_spec

    return build_spec(name_of(framework), framework=framework, command=probe_command(framework),
                      **SHAPES[framework], **PATHS, **options)


def kubernetes_objects(framework: str, api: str) -> list[dict]:
    kube = default_session().runtime("kubernetes")
    kube.namespace, kube.api = "ml", api
    return [o for o in yaml.safe_load_all(probe(framework, runtime="kubernetes", dry_run=True)) if o]


def run_pod(container_env: list[dict], command: list[str], index_fields: dict[str, str],
            extra: dict[str, str] | None = None, cwd: Path | None = None) -> dict[str, str]:
    """Start a container's command as the kubelet would: each env entry in order, `$(VAR)` of an earlier one
    expanded, downward-API fields from `index_fields`; the probe prints what the replica sees."""
    env: dict[str, str] = {"PATH": "/usr/bin:/bin", **(extra or {})}
    for entry in container_env:
        if "valueFrom" in entry:
            field_ref = entry["valueFrom"].get("fieldRef")
            if field_ref:
                env[entry["name"]] = index_fields[field_ref["fieldPath"]]
            continue
        value = entry["value"]
        for name, known in env.items():
            value = value.replace(f"$({name})", known)
        env[entry["name"]] = value
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return parse_env_output(done.stdout)


def completion_index_field(index: int) -> dict[str, str]:
    return {"metadata.annotations['batch.kubernetes.io/job-completion-index']": str(index)}


def plain_job_dry_run(framework: str, tmp_path: Path) -> dict[tuple[str, int], dict[str, str]]:
    return plain_job_replicas(framework, next(o for o in kubernetes_objects(framework, "job") if o["kind"] == "Job"))


def plain_job_replicas(framework: str, job: dict) -> dict[tuple[str, int], dict[str, str]]:
    container = job["spec"]["template"]["spec"]["containers"][0]
    order = contract.replica_names(_spec(framework))
    return {order[i]: run_pod(container["env"], container["command"], completion_index_field(i),
                              {"JOB_COMPLETION_INDEX": str(i)}) for i in range(job["spec"]["completions"])}


def trainer_dry_run(framework: str, tmp_path: Path) -> dict[tuple[str, int], dict[str, str]]:
    objects = kubernetes_objects(framework, "trainer")
    job = objects[-1] if objects[-1]["kind"] in ("TrainJob", "JobSet") else \
        next(o for o in objects if o["kind"] in ("TrainJob", "JobSet"))
    seen = {}
    if job["kind"] == "TrainJob":
        trainer = job["spec"]["trainer"]
        command = [c.replace("cd /workspace ||", f"cd {tmp_path} ||") for c in trainer["command"]]
        order = contract.replica_names(_spec(framework))
        for i in range(trainer["numNodes"]):
            seen[order[i]] = run_pod(trainer["env"], command, completion_index_field(i), {"JOB_COMPLETION_INDEX": str(i)})
        return seen
    for replicated in job["spec"]["replicatedJobs"]:
        template = replicated["template"]["spec"]
        container = template["template"]["spec"]["containers"][0]
        for i in range(template["completions"]):
            seen[(replicated["name"], i)] = run_pod(container["env"], container["command"], completion_index_field(i),
                                                    {"JOB_COMPLETION_INDEX": str(i)})
    return seen


def operator_writes(kind: str, replica_specs: dict, job_name: str, replica_type: str, index: int) -> dict[str, str]:
    """What the Kubeflow training operator v1 adds to each replica's environment (kubeflow/training-operator
    pkg/controller.v1: tensorflow's genTFConfigJSONStr, pytorch's SetPodEnv, xgboost's SetPodEnv)."""
    counts = {rt.lower(): spec["replicas"] for rt, spec in replica_specs.items()}
    if kind == "TFJob":
        cluster = {rt: [f"{job_name}-{rt}-{i}.ml.svc:2222" for i in range(n)] for rt, n in counts.items()
                   if rt != "evaluator"}
        return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": replica_type, "index": index},
                                         "environment": "cloud"})}
    rank = index if replica_type == "master" else index + counts.get("master", 0)
    return {"MASTER_ADDR": f"{job_name}-master-0", "MASTER_PORT": "23456" if kind == "PyTorchJob" else "9999",
            "WORLD_SIZE": str(sum(counts.values())), "RANK": str(rank)}


def operator_dry_run(framework: str, tmp_path: Path) -> dict[tuple[str, int], dict[str, str]]:
    objects = kubernetes_objects(framework, "training-operator")
    job = next(o for o in objects if o["kind"] in ("TFJob", "PyTorchJob", "XGBoostJob", "Job"))
    if job["kind"] == "Job":  # the operator runs no custom job: it becomes a plain Job
        return plain_job_replicas(framework, job)
    key = next(k for k in job["spec"] if k.endswith("ReplicaSpecs"))
    seen = {}
    for replica_type, replica_spec in job["spec"][key].items():
        role = replica_type.lower()
        container = replica_spec["template"]["spec"]["containers"][0]
        for i in range(replica_spec["replicas"]):
            fields = {"metadata.labels['training.kubeflow.org/replica-index']": str(i)}
            written = operator_writes(job["kind"], job["spec"][key], job["metadata"]["name"], role, i)
            env = [*container["env"], *({"name": k, "value": v} for k, v in written.items())]
            seen[(role, i)] = run_pod(env, container["command"], fields)
    return seen


DRY_RUNS = {"local": local_dry_run, "yarn": yarn_dry_run, "kubernetes job": plain_job_dry_run,
            "kubernetes trainer": trainer_dry_run, "kubernetes training-operator": operator_dry_run}


@pytest.mark.slow
@pytest.mark.parametrize("framework", list(SHAPES))
@pytest.mark.parametrize("runtime", list(DRY_RUNS))
def test_every_runtime_gives_each_replica_what_a_local_replica_saw(local_seen, runtime, framework, tmp_path):
    seen = DRY_RUNS[runtime](framework, tmp_path)
    same_master_everywhere(seen)
    assert {key: contract_view(env) for key, env in seen.items()} == local_seen[framework]


# -- what a real cluster's containers see ------------------------------------------------------------------
@pytest.mark.real_cluster
@pytest.mark.slow
@pytest.mark.timeout(600, func_only=True)
def test_real_yarn_containers_see_what_local_replicas_saw(local_seen, hadoop_cluster, tmp_path):
    """The same probe per framework in the real NodeManager's containers (tests/clusters/hadoop.py), through
    the runtime's real launch script, the Services API rendezvous included. The views compared are
    `contract_view`'s: TF_CONFIG's addresses become a count per role and MASTER_ADDR/MASTER_PORT a placeholder
    (checked to be set, and the same for every replica), because a container's peers are at the NodeManager
    host's address on `tf_port` + position and `master_port`, where local replicas take free ports on 127.0.0.1; every
    other contract variable must be equal to the letter.

    The containers share the probe's barrier folder (PROBE_DIR, in their environment: the NodeManager runs them on
    this host): without it a deciding replica that printed and ended before its peers got containers ended the
    service, and their logs never existed (once in CI, with four probes asking for containers at once)."""
    from submarine_kernel.algorithm import Bundle
    from test_real_yarn import runtime_for, storage_for, wait_for

    runtime, storage = runtime_for(hadoop_cluster), storage_for(hadoop_cluster)
    bundle = Bundle({name: text.encode() for name, text in FILES.items()})
    uri = storage.put(bundle).uri
    refs = {}
    try:
        for framework in SHAPES:  # all four at once: the NodeManager runs them side by side
            spec = build_probe_spec(framework, resources="memory=256M,vcores=1", env={"PROBE_DIR": str(tmp_path)})
            refs[framework] = runtime.submit(spec, bundle, uri)
        for framework, ref in refs.items():
            status = wait_for(runtime, ref)
            assert status.state.value == "SUCCEEDED", (framework, status)
            seen = {}
            for role, index in contract.replica_names(build_probe_spec(framework)):
                printed = "\n".join(runtime.logs(ref, f"{role}-{index}"))
                seen[(role, index)] = parse_env_output(printed)
            same_master_everywhere(seen)
            assert {key: contract_view(env) for key, env in seen.items()} == local_seen[framework], framework
        # every container ran the probe and left its mark in the barrier folder
        assert len(list(tmp_path.iterdir())) == sum(sum(shape.values()) for shape in SHAPES.values())
    finally:
        for ref in refs.values():
            runtime.remove(ref)


#: what the real controllers add to a replica's container, beyond what we submit (read from their sources, and
#: checked against the pods they made in tests/test_real_kubernetes_jobs.py and _operators.py):
#: - the Job controller, for an Indexed Job (every API's replicas are one): JOB_COMPLETION_INDEX, from the
#:   pod's completion-index annotation (k8s pkg/controller/job, addCompletionIndexEnvVariable);
#: - JobSet: nothing in the environment (labels, annotations, the headless Service and host names only);
#: - Trainer v2's torch plugin: PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK, PET_MASTER_ADDR,
#:   PET_MASTER_PORT (torchrun's own settings: a replica started without torchrun reads the contract's);
#: - Trainer v2's xgboost plugin: DMLC_TRACKER_URI, DMLC_TRACKER_PORT, DMLC_TASK_ID, DMLC_NUM_WORKER
#:   (XGBoost's collective tracker, for code that uses it instead of the contract's MASTER_ADDR/RANK).
CONTROLLER_VARIABLES = {
    "Job": {"JOB_COMPLETION_INDEX"},
    "JobSet": {"JOB_COMPLETION_INDEX"},
    "TrainJob/pytorch": {"JOB_COMPLETION_INDEX", "PET_NNODES", "PET_NPROC_PER_NODE", "PET_NODE_RANK",
                         "PET_MASTER_ADDR", "PET_MASTER_PORT"},
    "TrainJob/xgboost": {"JOB_COMPLETION_INDEX", "DMLC_TRACKER_URI", "DMLC_TRACKER_PORT", "DMLC_TASK_ID",
                         "DMLC_NUM_WORKER"},
}


def contract_views(framework: str) -> dict[tuple[str, int], dict]:
    """What `contract.replica_env` gives each replica of the probe, seen through `contract_view` (the
    addresses' values do not reach the view, so any will do)."""
    spec = build_probe_spec(framework)
    addresses = contract.Addresses({role: [f"{role}-{i}:1" for i in range(r.replicas)]
                                    for role, r in spec.roles.items()}, 1)
    return {(role, i): contract_view({k: str(v) for k, v in contract.replica_env(spec, role, i, addresses).items()})
            for role, i in contract.replica_names(spec)}


def test_local_replicas_saw_the_contract(local_seen):
    """The link from local replicas to the real Kubernetes tests, which compare the pods' env with the rule."""
    for framework in SHAPES:
        assert local_seen[framework] == contract_views(framework), framework


def field_value(pod: dict, field_path: str) -> str:
    """A downward-API `fieldRef` of `pod` as the kubelet resolves it (the ones our pods and the
    controllers' use); any other path fails the test, naming it."""
    import re

    metadata = pod["metadata"]
    found = re.fullmatch(r"metadata\.(annotations|labels)\['([^']+)'\]", field_path)
    if found:
        return metadata.get(found[1], {})[found[2]]
    if field_path in ("metadata.name", "metadata.namespace"):
        return metadata[field_path.split(".")[1]]
    raise AssertionError(f"the probe does not resolve fieldRef {field_path!r}")


def real_pods_seen(plane, namespace: str, framework: str, submitted_env: set[str], workdir: Path
                   ) -> tuple[dict[tuple[str, int], dict[str, str]], set[str], dict[tuple[str, int], str]]:
    """Each pod the controllers made for the probe job, started as the kubelet would start it (env in order,
    `$(VAR)` expanded, fieldRefs from the pod's own metadata as the controllers wrote it): (role, index) →
    the environment the replica printed; the variables the pods carry that we did not submit; and
    (role, index) → the pod's DNS name as its host name and subdomain give it."""
    from k8s_support import wait_for

    count = build_probe_spec(framework).replica_count
    selector = f"submarine-kernel/job={name_of(framework)}"
    pods = wait_for(lambda: (items := plane.get_json(f"/api/v1/namespaces/{namespace}/pods?labelSelector="
                                                     f"{selector}")["items"]) and len(items) >= count and items,
                    timeout=120, what=f"the controllers to make {count} pods")
    seen, added, dns = {}, set(), {}
    for pod in pods:
        container = pod["spec"]["containers"][0]
        fields = {entry["valueFrom"]["fieldRef"]["fieldPath"]: field_value(pod, entry["valueFrom"]["fieldRef"]
                                                                           ["fieldPath"])
                  for entry in container.get("env", []) if "fieldRef" in entry.get("valueFrom", {})}
        added |= {entry["name"] for entry in container.get("env", [])} - submitted_env
        command = [*container.get("command", []), *container.get("args", [])]
        command = [c.replace("cd /workspace ||", f"cd {workdir} ||") for c in command]
        env = run_pod(container.get("env", []), command, fields, cwd=workdir)
        key = (env["SUBMARINE_ROLE"], int(env["SUBMARINE_REPLICA_INDEX"]))
        assert key not in seen, (key, pod["metadata"]["name"])
        seen[key] = env
        dns[key] = f"{pod['spec'].get('hostname')}.{pod['spec'].get('subdomain')}.{namespace}.svc"
    return seen, added, dns


def addresses_are_the_pods(seen: dict[tuple[str, int], dict[str, str]], dns: dict[tuple[str, int], str]) -> None:
    """What `contract_view` leaves out, checked against the real pods: a replica's own TF_CONFIG address and
    MASTER_ADDR are the DNS names the controllers gave the pods (host name and subdomain)."""
    deciding = min(seen, key=contract.replica_names(build_probe_spec(seen[next(iter(seen))]["SUBMARINE_FRAMEWORK"]))
                   .index)
    for (role, index), env in seen.items():
        if "TF_CONFIG" in env:
            own = json.loads(env["TF_CONFIG"])["cluster"][role][index]
            assert own.rsplit(":", 1)[0] == dns[(role, index)], (role, index, own, dns)
        if "MASTER_ADDR" in env:
            assert env["MASTER_ADDR"] == dns[deciding], (env["MASTER_ADDR"], dns)


def submitted_env_names(objects: list[dict]) -> set[str]:
    """Every env name in what we submitted (containers of Jobs and JobSets, a TrainJob's trainer)."""
    names: set[str] = set()

    def walk(value):
        if isinstance(value, dict):
            if isinstance(value.get("env"), list):
                names.update(e["name"] for e in value["env"] if isinstance(e, dict) and "name" in e)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(objects)
    return names


def check_real_pods(plane, runtime, framework: str, workdir: Path
                    ) -> tuple[dict[tuple[str, int], dict[str, str]], set[str]]:
    """Submit the probe through `runtime`, compare what its real pods give each replica with the contract;
    returns what each replica saw and the variables the controllers added."""
    from submarine_kernel.algorithm import Bundle

    spec = build_probe_spec(framework, image="repo/probe:1")
    bundle = Bundle({name: text.encode() for name, text in FILES.items()})
    plan = runtime.prepare(spec, bundle, "file:///b")
    submitted = submitted_env_names([o for o in yaml.safe_load_all(plan.dry_run_text) if o])
    ref = runtime.start(plan)  # the very objects whose env names were read
    seen, added, dns = real_pods_seen(plane, ref.extra["namespace"], framework, submitted, workdir)
    same_master_everywhere(seen)
    addresses_are_the_pods(seen, dns)
    assert {key: contract_view(env) for key, env in seen.items()} == contract_views(framework), framework
    return seen, added
