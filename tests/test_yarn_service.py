"""The YARN Service JSON: schema-valid for every job shape, Hadoop Submarine's component layout, and launch
commands that give each container the environment contract once YARN has wrapped them."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from submarine_kernel import contract
from submarine_kernel.runtimes.yarn import service as ys
from submarine_kernel.algorithm import Bundle
from submarine_kernel.runtimes.yarn import YarnRuntime
from submarine_kernel.spec import build_spec
from submarine_kernel.storage.integrity import REPLICA_CHECK_EXIT

from yarn_rules import schema_errors, yarn_rule_errors

BUNDLE_URI = "hdfs://nn.example.com:8020/user/alice/submarine/bundles/0123abcd"
DOMAIN = "ycluster.example.com"
DUMP_ENV = (
    "import json, os, pathlib\n"
    "keys = [k for k in os.environ if k.startswith(('SUBMARINE_', 'TF_CONFIG', 'MASTER_', 'WORLD_SIZE', 'RANK',"
    " 'LOCAL_RANK', 'PYTHON', 'QUOTED', 'PLAIN', 'DOCKER_'))]\n"
    "pathlib.Path('env.json').write_text(json.dumps({k: os.environ[k] for k in keys}))\n"
    "import helper\n"
    "print('trained', helper.VALUE)\n"
)


def runtime(**traits) -> YarnRuntime:
    base = dict(rm_urls=["http://rm1:8088"], user="alice", registry_dns_domain=DOMAIN)
    return YarnRuntime(**{**base, **traits})


def bundle() -> Bundle:
    return Bundle({"dump_env.py": DUMP_ENV.encode(), "helper.py": b"VALUE = 42\n"})


JOB_SHAPES = {
    "tf-workers-ps": dict(framework="tensorflow", workers=3, ps=2, resources="memory=8G,vcores=2,gpu=1"),
    "tf-chief": dict(framework="tensorflow", workers=3, chief=True, resources="memory=2G,vcores=1"),
    "tf-single": dict(framework="tensorflow", workers=1),
    "pytorch": dict(framework="pytorch", workers=4, resources="memory=16G,vcores=4,gpu=2"),
    "xgboost": dict(framework="xgboost", workers=2),
    "tf-evaluator": dict(framework="tensorflow", workers=2, evaluator=1),
    "custom": dict(framework="custom", workers=1, resources="memory=1G,vcores=1,example.com/fpga=1"),
}


@pytest.mark.parametrize("shape", sorted(JOB_SHAPES))
def test_every_job_shape_is_a_valid_service(shape):
    spec = build_spec(f"job-{shape}", command="python train.py", image="registry.example.com/ml:1",
                      **JOB_SHAPES[shape])
    rt = runtime(queue="ml", lifetime=3600, docker_java_home="/usr/lib/jvm/java-8",
                 docker_hadoop_hdfs_home="/opt/hadoop", service_principal="alice/_HOST@EXAMPLE.COM",
                 service_keytab="file:///etc/security/keytabs/alice.keytab")
    assert rt.check(spec) == []
    service = rt.service(spec, bundle(), BUNDLE_URI)
    assert schema_errors(service) == []
    assert yarn_rule_errors(service, secure=True) == []
    assert service["queue"] == "ml" and service["lifetime"] == 3600
    assert service["kerberos_principal"] == {"principal_name": "alice/_HOST@EXAMPLE.COM",
                                             "keytab": "file:///etc/security/keytabs/alice.keytab"}
    assert service["artifact"] == {"id": "registry.example.com/ml:1", "type": "DOCKER"}
    assert service["configuration"]["env"] == {"DOCKER_JAVA_HOME": "/usr/lib/jvm/java-8",
                                               "DOCKER_HADOOP_HDFS_HOME": "/opt/hadoop"}
    components = {c["name"]: c for c in service["components"]}
    assert components["master"]["number_of_containers"] == 1
    assert components["master"]["configuration"]["properties"] == {ys.REPORT_AS_SERVICE_STATE: "true"}
    assert all(c["restart_policy"] == "NEVER" for c in components.values())
    assert sum(c["number_of_containers"] for c in components.values()) == spec.replica_count
    others = [c for name, c in components.items() if name != "master"]
    assert all(ys.REPORT_AS_SERVICE_STATE not in c["configuration"]["properties"] for c in others)


def test_component_layout_follows_hadoop_submarine():
    tf = build_spec("tf", framework="tensorflow", workers=3, ps=2, command="python t.py")
    assert [(p.name, p.role, p.first_index, p.count) for p in ys.component_plan(tf)] == [
        ("master", "worker", 0, 1), ("worker", "worker", 1, 2), ("ps", "ps", 0, 2)]
    chief = build_spec("tf", framework="tensorflow", workers=3, chief=True, command="python t.py")
    assert [(p.name, p.role, p.first_index, p.count) for p in ys.component_plan(chief)] == [
        ("master", "chief", 0, 1), ("worker", "worker", 0, 2)]
    torch = build_spec("pt", framework="pytorch", workers=3, command="python t.py")
    assert [(p.name, p.role, p.first_index, p.count) for p in ys.component_plan(torch)] == [
        ("master", "master", 0, 1), ("worker", "worker", 0, 2)]
    plans = ys.component_plan(tf)
    assert ys.role_of_instance(plans, "master-0") == ("worker", 0)
    assert ys.role_of_instance(plans, "worker-1") == ("worker", 2)
    assert ys.role_of_instance(plans, "tensorboard-0") is None


def test_resources_gpus_and_defaults():
    spec = build_spec("res", framework="pytorch", workers=2, command="python t.py",
                      resources={"master": "memory=8G,vcores=2,gpu=2,example.com/fpga=1", "worker": "gpu=1"})
    components = {c["name"]: c for c in runtime(default_memory_mib=2048, default_vcores=3)
                  .service(spec, bundle(), BUNDLE_URI)["components"]}
    assert components["master"]["resource"] == {"cpus": 2, "memory": "8192", "additional": {
        "yarn.io/gpu": {"value": 2, "unit": ""}, "example.com/fpga": {"value": 1, "unit": ""}}}
    assert components["worker"]["resource"] == {"cpus": 3, "memory": "2048",
                                                "additional": {"yarn.io/gpu": {"value": 1, "unit": ""}}}


def test_algorithm_files_are_localized_once_with_one_path_element_and_linked_into_place(tmp_path):
    # a real RM refuses a relative dest_file of more than one path element
    service = runtime().service(build_spec("loc", command="ls -R > tree.txt"), Bundle({"t.py": b"", "pkg/u.py": b""}),
                                BUNDLE_URI + "/")
    files = service["configuration"]["files"]
    assert {(f["src_file"], f["dest_file"]) for f in files} == {
        (f"{BUNDLE_URI}/t.py", "t.py"), (f"{BUNDLE_URI}/pkg/u.py", "pkg__u.py")}
    assert all(f["type"] == "STATIC" for f in files)
    work = tmp_path / "container"
    launch_like_yarn(service["components"][0], service, 0, work, {"t.py": b"t", "u.py": b"u"})
    assert (work / "submarine_algorithm" / "pkg" / "u.py").read_bytes() == b"u"
    assert (work / "pkg" / "u.py").read_bytes() == b"u" and (work / "submarine_algorithm" / "t.py").read_bytes() == b"t"


def test_per_role_images_and_tensorboard_quicklink():
    spec = build_spec("imgs", framework="tensorflow", workers=2, ps=1, command="python t.py", image="tf:cpu",
                      role_images={"worker": "tf:gpu"}, checkpoint_path="hdfs://nn/user/alice/ckpt/imgs")
    service = runtime(tensorboard=True, tensorboard_image="tb:1").service(spec, bundle(), BUNDLE_URI)
    components = {c["name"]: c for c in service["components"]}
    assert components["master"]["artifact"] == {"id": "tf:gpu", "type": "DOCKER"}
    assert components["worker"]["artifact"] == {"id": "tf:gpu", "type": "DOCKER"}
    assert "artifact" not in components["ps"]  # the service artifact applies
    assert components["tensorboard"]["artifact"] == {"id": "tb:1", "type": "DOCKER"}
    assert "--logdir=hdfs://nn/user/alice/ckpt/imgs" in components["tensorboard"]["launch_command"]
    assert service["quicklinks"] == {"Tensorboard": f"http://tensorboard-0.imgs.alice.{DOMAIN}:6006"}
    assert schema_errors(service) == []


def test_resources_yarn_cannot_give_and_missing_settings():
    spec = build_spec("frac", framework="pytorch", workers=2, command="python t.py", resources="vcores=0.5,memory=64G")
    problems = runtime(registry_dns_domain="", max_memory_mib=32768).check(spec)
    assert any("whole vcores" in p for p in problems)
    assert any("maximum-allocation-mb" in p for p in problems)
    assert not any("registry_dns_domain" in p for p in problems)  # peers found through the Services API
    assert any("registry_dns_domain" in p for p in runtime(registry_dns_domain="", kerberos=True).check(spec))
    assert any("master" in p for p in runtime().check(build_spec("master", command="python t.py")))
    assert any("user/_HOST@REALM" in p for p in runtime(service_principal="alice@EXAMPLE.COM")
               .check(build_spec("k", command="python t.py")))
    single = build_spec("single", command="python t.py")
    assert runtime(registry_dns_domain="").check(single) == []


def test_render_prints_json_and_a_shell_quoted_classic_command():
    spec = build_spec("render-job", framework="tensorflow", workers=2, ps=1, command="python train.py --msg {msg}",
                      params={"msg": "it's a test"}, env={"HF_TOKEN": "s3cr3t-value", "PLAIN": "1"},
                      image="tf:2", input_path="hdfs://nn/data", checkpoint_path="hdfs://nn/user/a/ckpt/x")
    text = runtime(queue="ml").prepare(spec, bundle(), BUNDLE_URI).describe()
    assert "s3cr3t-value" not in text
    head, _, classic = text.partition("# the same job with Hadoop Submarine's command line:\n")
    service = json.loads(head[head.index("{"):])
    assert schema_errors(service) == []
    argv = shlex.split(classic.strip())
    assert argv[:5] == ["yarn", "jar", "hadoop-submarine-all-0.2.0-hadoop-3.1.jar", "job", "run"]
    options = dict(zip(argv[5::2], argv[6::2]))
    assert options["--name"] == "render-job" and options["--num_workers"] == "2" and options["--num_ps"] == "1"
    assert options["--worker_launch_cmd"] == "python train.py --msg 'it'\"'\"'s a test'"
    assert options["--queue"] == "ml" and options["--docker_image"] == "tf:2"
    assert f"{BUNDLE_URI}:./submarine_algorithm" in argv


# -- the launch command, run the way YARN runs it ------------------------------------------------------
def run_like_yarn(component: dict, service: dict, instance: int, workdir: Path, files: dict[str, bytes]) -> dict:
    """Localize the files, write launch_container.sh as YARN's ContainerLaunch does, run it, read env.json."""
    done = launch_like_yarn(component, service, instance, workdir, files)
    assert done.returncode == 0, (done.stderr, (workdir / "stderr.txt").read_text())
    assert (workdir / "stdout.txt").read_text().strip() == "trained 42"
    return json.loads((workdir / "env.json").read_text())


def launch_like_yarn(component: dict, service: dict, instance: int, workdir: Path,
                     files: dict[str, bytes]) -> subprocess.CompletedProcess:
    """Localize `files` (what the store holds now) and run the container's launch_container.sh."""
    workdir.mkdir(parents=True)
    for entry in service["configuration"]["files"]:
        name = entry["src_file"].rsplit("/", 1)[-1]
        target = workdir / entry["dest_file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[name])
    env = {**service["configuration"]["env"], **component["configuration"]["env"]}
    command = component["launch_command"].replace(ys.COMPONENT_ID_TOKEN, str(instance))  # the service AM
    script = ["#!/bin/bash"] + [f'export {k}="{v}"' for k, v in env.items()]
    script.append(f'exec /bin/bash -c "{command} 1>{workdir}/stdout.txt 2>{workdir}/stderr.txt"')
    (workdir / "launch_container.sh").write_text("\n".join(script) + "\n")
    return subprocess.run(["bash", "launch_container.sh"], cwd=workdir, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": "/opt/site"})


def test_a_container_refuses_algorithm_files_changed_in_the_store_after_submission(tmp_path):
    # YARN localizes whatever HDFS holds when the container starts: each container checks the files against
    # their sha256 as submitted (carried in the launch command, not in the store) before anything runs.
    spec = build_spec("tamper-job", framework="pytorch", workers=2, command=f"{shlex.quote(sys.executable)} dump_env.py")
    service = runtime().service(spec, bundle(), BUNDLE_URI)
    master = next(c for c in service["components"] if c["name"] == "master")
    tampered = {**bundle().files, "dump_env.py": b"print('tampered code ran')\n"}
    done = launch_like_yarn(master, service, 0, tmp_path / "master-0", tampered)
    stderr = (tmp_path / "master-0" / "stderr.txt").read_text()
    assert done.returncode == REPLICA_CHECK_EXIT, stderr
    assert "tampered" not in (tmp_path / "master-0" / "stdout.txt").read_text()
    assert "dump_env.py: FAILED" in stderr and "submarine_algorithm/dump_env.py: FAILED" in stderr
    assert stderr.strip().endswith("the algorithm files differ from those submitted (changed in the store after "
                                   "upload): submit the job again")


@pytest.mark.parametrize("framework", ["tensorflow", "pytorch"])
def test_launch_commands_export_the_environment_contract(tmp_path, framework):
    spec = build_spec("contract-job", framework=framework, workers=3, ps=1 if framework == "tensorflow" else 0,
                      command=f"{shlex.quote(sys.executable)} dump_env.py",
                      env={"QUOTED": 'say "hi" to $USER `now` \\o/', "PLAIN": "plain value"},
                      checkpoint_path="hdfs://nn/user/alice/ckpt/contract-job")
    service = runtime(tf_port=2222).service(spec, bundle(), BUNDLE_URI)
    files = {name: data for name, data in bundle().files.items()}
    plans = ys.component_plan(spec)
    components = {c["name"]: c for c in service["components"]}
    expected_cluster = {role: [f"{ys.locate(plans, role, i)[0]}-{ys.locate(plans, role, i)[1]}.contract-job.alice."
                               f"{DOMAIN}:2222" for i in range(spec.roles[role].replicas)] for role in spec.roles}
    seen = set()
    for plan in plans:
        for instance in range(plan.count):
            role, index = plan.role, plan.role_index(instance)
            env = run_like_yarn(components[plan.name], service, instance, tmp_path / f"{plan.name}-{instance}", files)
            seen.add((role, index))
            assert env["SUBMARINE_ROLE"] == role and env["SUBMARINE_REPLICA_INDEX"] == str(index)
            assert env["SUBMARINE_CHECKPOINT_PATH"] == "hdfs://nn/user/alice/ckpt/contract-job"
            assert env["QUOTED"] == 'say "hi" to $USER `now` \\o/' and env["PLAIN"] == "plain value"
            assert env["PYTHONPATH"].split(":")[0].endswith("/submarine_algorithm")
            assert env["PYTHONPATH"].endswith(":/opt/site")
            if framework == "tensorflow":
                assert json.loads(env["TF_CONFIG"]) == json.loads(contract.tf_config(expected_cluster, role, index))
            else:
                assert env["MASTER_ADDR"] == f"master-0.contract-job.alice.{DOMAIN}"
                assert env["WORLD_SIZE"] == "3" and env["RANK"] == str(contract.rank(spec, role, index))
    assert seen == set(contract.replica_names(spec))
    # values double quotes would change stay out of configuration.env (YARN writes export K="V")
    assert "QUOTED" not in components["master"]["configuration"]["env"]
    assert components["master"]["configuration"]["env"]["PLAIN"] == "plain value"
