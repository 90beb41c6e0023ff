"""JobSpec: replica counting per framework, resources in both syntaxes, validation, params and quoting."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from submarine_kernel.algorithm import PARAMS_NAME, Bundle
from submarine_kernel.command_template import param_env, placeholders, render_command
from submarine_kernel.errors import ResourceError, SubmarineError, ValidationError
from submarine_kernel.resources import Resources
from submarine_kernel.spec import JobSpec, Role, build_spec, draft_spec


# -- counting workers ----------------------------------------------------------------------------------
def counts(spec: JobSpec) -> dict[str, int]:
    return {name: role.replicas for name, role in spec.roles.items()}


@pytest.mark.parametrize("workers, expected", [(1, {"master": 1}), (3, {"master": 1, "worker": 2})])
def test_pytorch_master_plus_n_minus_one_workers(workers, expected):
    spec = build_spec("job", framework="pytorch", workers=workers, command="python train.py")
    assert counts(spec) == expected
    assert spec.replica_count == workers
    assert spec.deciding_role == "master"


def test_tensorflow_n_workers_plus_ps():
    spec = build_spec("job", framework="tensorflow", workers=2, ps=1, command="python train.py")
    assert counts(spec) == {"worker": 2, "ps": 1}
    assert spec.replica_count == 3
    assert spec.deciding_role == "worker"


def test_tensorflow_with_chief():
    spec = build_spec("job", framework="tensorflow", workers=3, ps=2, chief=True, command="python train.py")
    assert counts(spec) == {"chief": 1, "worker": 2, "ps": 2}
    assert spec.deciding_role == "chief"


def test_tensorflow_chief_alone():
    assert counts(build_spec("job", framework="tensorflow", workers=1, chief=True, command="x")) == {"chief": 1}


def test_xgboost_master_and_workers():
    assert counts(build_spec("job", framework="xgboost", workers=3, command="x")) == {"master": 1, "worker": 2}


def test_custom_workers_only():
    spec = build_spec("job", framework="custom", workers=2, command="x")
    assert counts(spec) == {"worker": 2}
    assert spec.deciding_role == "worker"


def test_framework_name_is_case_insensitive():
    assert build_spec("job", framework="PyTorch", workers=2, command="x").framework == "pytorch"


def test_ps_and_chief_refused_outside_tensorflow():
    with pytest.raises(ValidationError) as info:
        build_spec("job", framework="pytorch", workers=2, ps=1, chief=True, command="x")
    text = str(info.value)
    assert "parameter servers are a TensorFlow role, not pytorch: drop --ps" in text
    assert "--chief is a TensorFlow role, not pytorch: drop --chief" in text


def test_role_specific_resources_commands_and_images():
    spec = build_spec("job", framework="tensorflow", workers=2, ps=1, command="python train.py",
                      resources={"default": "memory=2G", "ps": "memory=1G,vcores=1"},
                      role_commands={"ps": "python ps.py"}, role_images={"worker": "img:w"}, image="img:base")
    assert spec.roles["worker"].resources.memory_mib == 2048
    assert spec.roles["ps"].resources == Resources(memory_mib=1024, cpus=1.0)
    assert spec.launch_command("ps") == "python ps.py"
    assert spec.launch_command("worker") == "python train.py"
    assert spec.role_image("worker") == "img:w" and spec.role_image("ps") == "img:base"


def test_to_dict_round_trip():
    spec = build_spec("job", framework="tensorflow", workers=2, ps=1, command="python t.py --lr {lr}",
                      resources="memory=2G,vcores=2,gpu=1,example.com/fpga=1", env={"A": "1"},
                      input_path="/data/in", checkpoint_path="/data/ckpt", params={"lr": 0.1}, labels={"team": "ml"})
    again = JobSpec.from_dict(json.loads(spec.to_json()))
    assert again == spec


# -- resources -----------------------------------------------------------------------------------------
def test_both_syntaxes_parse_to_the_same_normalized_form():
    cli = Resources.parse("memory=8G,vcores=2,gpu=2")
    server = Resources.parse("cpu=2,memory=8192M,nvidia.com/gpu=2")
    assert cli == server == Resources(memory_mib=8192, cpus=2.0, gpus=2)


@pytest.mark.parametrize("text", [
    "memory=8G,vcores=2,gpu=2",
    "cpu=2,memory=1024M,nvidia.com/gpu=1",
    "memory=1536M,vcores=1",
    "cpu=500m,memory=512Mi",
    "memory=3T,gpu=8,example.com/fpga=2",
    "yarn.io/gpu=1,mem=4Gi,cpus=4",
    "memory=100",
])
def test_round_trip_through_either_syntax(text):
    parsed = Resources.parse(text)
    assert Resources.parse(parsed.to_cli()) == parsed


def test_printed_syntaxes():
    parsed = Resources.parse("cpu=2,memory=1024M,nvidia.com/gpu=1")
    assert parsed.to_cli() == "memory=1G,vcores=2,gpu=1"
    assert Resources.parse("memory=1536M").to_cli() == "memory=1536M"
    assert str(Resources()) == "(defaults)"


@pytest.mark.parametrize("text, mib", [("1024M", 1024), ("1G", 1024), ("1.5G", 1536), ("2Gi", 2048), ("512Mi", 512),
                                       ("1048576K", 1024), ("1T", 1024 ** 2), ("64", 64), ("4 GB", 4096)])
def test_memory_units(text, mib):
    assert Resources.parse(f"memory={text}").memory_mib == mib


def test_empty_resources_are_defaults():
    assert Resources.parse(None) == Resources.parse("") == Resources.parse(" , ") == Resources()


@pytest.mark.parametrize("text, words", [
    ("memory=8X", ["memory='8X'", "bad unit", "memory=4G"]),
    ("memory=-4G", ["memory=-4G", "negative"]),
    ("memory=0", ["memory=0", "at least"]),
    ("vcores=0", ["vcores=0", "positive"]),
    ("cpu=-1", ["cpu=-1", "positive"]),
    ("cpu=abc", ["cpu='abc'", "not a number"]),
    ("vcores=nan", ["vcores='nan'", "not a number"]),
    ("gpu=-1", ["gpu=-1", "negative"]),
    ("nvidia.com/gpu=1.5", ["nvidia.com/gpu='1.5'", "whole number"]),
    ("disk=10G", ["unknown resource key 'disk'", "example.com/fpga"]),
    ("memory", ["resource 'memory' has no value", "key=value"]),
    ("memory=", ["has no value"]),
])
def test_bad_resource_messages(text, words):
    with pytest.raises(ResourceError) as info:
        Resources.parse(text)
    for word in words:
        assert word in str(info.value)


def test_every_bad_resource_item_reported_at_once():
    with pytest.raises(ResourceError) as info:
        Resources.parse("memory=8X,vcores=0,gpu=-2,disk=1,cpu")
    assert len(info.value.problems) == 5


# -- validation reports every problem at once ----------------------------------------------------------
def test_every_problem_in_one_error():
    with pytest.raises(ValidationError) as info:
        build_spec("job", framework="pytorch", workers=2, resources="memory=8X,bogus=1,gpu=-1,vcores=0",
                   command=None, params={"1bad": 1, "has-dash": 2})
    problems = info.value.problems
    text = str(info.value)
    assert isinstance(info.value, SubmarineError)
    assert "memory='8X' has a bad unit" in text
    assert "unknown resource key 'bogus'" in text
    assert "gpu=-1 must not be negative" in text
    assert "vcores=0 must be positive" in text
    assert "role 'master' has no launch command: add one after --" in text
    assert "role 'worker' has no launch command" in text
    assert "param name '1bad' is invalid: use a Python identifier" in text
    assert "param name 'has-dash' is invalid" in text
    assert len(problems) == 8
    assert text == "; ".join(problems)


def test_placeholder_without_param_and_bad_workers_together():
    with pytest.raises(ValidationError) as info:
        build_spec("job", framework="tensorflow", workers=0, ps=-1, command="python t.py --lr {lr} --bs {batch}",
                   params={"lr": 1})
    text = str(info.value)
    assert "--workers 0 is not a positive whole number: ask for at least 1" in text
    assert "--ps -1 must be 0 or more" in text
    assert "{batch}" in text and "pass -p batch VALUE" in text
    assert "{lr}" not in text  # lr is set


def test_master_with_more_than_one_replica():
    spec = JobSpec("job", "pytorch", {"master": Role("master", 2), "worker": Role("worker", 1)}, command="x")
    with pytest.raises(ValidationError, match="a job has exactly one master, not 2: use --workers"):
        spec.validate()


def test_chief_with_more_than_one_replica():
    spec = JobSpec("job", "tensorflow", {"chief": Role("chief", 3)}, command="x")
    assert any("exactly one chief, not 3" in p for p in spec.problems())


def test_spec_level_problems():
    spec = JobSpec("", "mxnet", {"boss": Role("boss", 0)}, command="x", env={"BAD-NAME": "1"},
                   labels={"bad label": "x"})
    text = "; ".join(spec.problems())
    assert "the job has no name: pass --name" in text
    assert "unknown framework 'mxnet': use one of tensorflow, pytorch, xgboost, custom" in text
    assert "unknown role 'boss'" in text
    assert "role 'boss' has 0 replicas: ask for at least 1" in text
    assert "environment variable name 'BAD-NAME' is invalid" in text
    assert "label key 'bad label' is invalid" in text


def test_pytorch_without_master_or_with_ps():
    spec = JobSpec("job", "pytorch", {"worker": Role("worker", 2), "ps": Role("ps", 1)}, command="x")
    text = "; ".join(spec.problems())
    assert "a PyTorch job needs a master" in text
    assert "only master and worker roles, not ps" in text


def test_resources_for_unknown_role():
    with pytest.raises(ValidationError, match="resources for unknown role 'boss'"):
        build_spec("job", workers=1, command="x", resources={"boss": "memory=1G"})


def test_launch_command_missing_raises():
    spec, problems = draft_spec("job", workers=1)
    assert problems
    with pytest.raises(ValidationError, match="role 'master' has no launch command"):
        spec.launch_command("master")


# -- params --------------------------------------------------------------------------------------------
def test_placeholder_substitution():
    assert render_command("python t.py --lr {lr} --epochs {epochs}", {"lr": 0.01, "epochs": 3}) == \
        "python t.py --lr 0.01 --epochs 3"


def test_appended_when_no_placeholder():
    assert render_command("python t.py", {"lr": 0.01, "name": "a b"}) == "python t.py --lr 0.01 --name 'a b'"


def test_no_params_leaves_command_alone():
    assert render_command("python t.py '{not_a_param}'", {}) == "python t.py '{not_a_param}'"


def test_double_braces_are_literal_braces_in_a_template_as_str_format_reads_them():
    assert render_command("echo '{{lr}}' {lr}", {"lr": 1}) == "echo '{lr}' 1"
    assert render_command("""prog --json '{{"a": {x}}}'""", {"x": 1}) == """prog --json '{"a": '1'}'"""
    assert placeholders("""prog --json '{{"a": {x}}}'""") == ["x"]            # the one before `}` counts


def test_a_command_without_placeholders_keeps_its_braces_and_shell_expansions_are_not_params():
    assert render_command("""python -c "d={'a': {'b': 1}}" """, {"lr": 0.1}) == \
        """python -c "d={'a': {'b': 1}}"  --lr 0.1"""
    assert placeholders("echo ${HOME} {x}") == ["x"]
    assert render_command("echo ${HOME} {x}", {"x": 2}) == "echo ${HOME} 2"


def test_param_values_formatted():
    env = param_env({"flag": True, "off": False, "layers": [1, 2], "lr": 0.5, "name": "x"})
    assert env == {"SUBMARINE_PARAM_FLAG": "true", "SUBMARINE_PARAM_OFF": "false",
                   "SUBMARINE_PARAM_LAYERS": "[1, 2]", "SUBMARINE_PARAM_LR": "0.5", "SUBMARINE_PARAM_NAME": "x"}


def test_params_reach_role_env_and_launch_command():
    spec = build_spec("job", workers=2, command="python t.py", env={"A": "1"}, params={"learning_rate": 0.1})
    for role in spec.roles:
        assert spec.role_env(role) == {"A": "1", "SUBMARINE_PARAM_LEARNING_RATE": "0.1"}
        assert spec.launch_command(role) == "python t.py --learning_rate 0.1"


def test_params_json_in_bundle():
    bundle = Bundle({"t.py": b"x"}).with_params({"lr": 0.1, "layers": [1, 2]})
    assert json.loads(bundle.files[PARAMS_NAME]) == {"lr": 0.1, "layers": [1, 2]}
    assert PARAMS_NAME in {f["name"] for f in bundle.manifest()["files"]}


INJECTIONS = [
    "; rm -rf {victim}",  # `; rm -rf /` aimed at a folder of the test's own, in case quoting ever breaks
    "$(touch {marker}/dollar)",
    "`touch {marker}/backtick`",
    "'; touch {marker}/single; '",
    "\"; touch {marker}/double; \"",
    "x\ntouch {marker}/newline",
    "a && touch {marker}/and",
    "| touch {marker}/pipe",
    "> {marker}/redirect",
    "$HOME ${{HOME}} \\ \\\\ * ? ~ # !",
    "--lr=1 --evil",
    "",
    "  spaced  value  ",
    "ünïcødé ☃",
    "{{lr}}",
]



def _run_sh(command: str, env: dict | None = None):
    import os

    return subprocess.run(["/bin/sh", "-c", command], env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=60)


def _targets(tmp_path):
    """An empty folder that injected `touch` commands would fill, and a folder `rm -rf` would remove."""
    marker, victim = tmp_path / "marker", tmp_path / "victim"
    marker.mkdir()
    victim.mkdir()
    (victim / "keep").write_text("still here")
    return marker, victim


@pytest.fixture
def argv_dump(tmp_path):
    """A python script that writes its argv (after the output path) as JSON."""
    script = tmp_path / "dump.py"
    script.write_text("import json, sys\njson.dump(sys.argv[2:], open(sys.argv[1], 'w'))\n")
    return script


@pytest.mark.parametrize("template", [
    "{exe} {script} {out} {{value}}",
    "{exe} {script} {out} \"{{value}}\"",
    "{exe} {script} {out} '{{value}}'",
    "{exe} {script} {out} \"prefix-{{value}}-suffix\"",
    "{exe} {script} {out} '[{{value}}]'",
], ids=["bare", "double-quoted", "single-quoted", "inside-double", "inside-single"])
def test_injection_corpus_through_real_shell_placeholder(tmp_path, argv_dump, template):
    marker, victim = _targets(tmp_path)
    for i, raw in enumerate(INJECTIONS):
        value = raw.format(marker=marker, victim=victim)
        out = tmp_path / f"out{i}.json"
        command = template.format(exe=sys.executable, script=argv_dump, out=out)
        rendered = render_command(command, {"value": value})
        result = _run_sh(rendered)
        assert result.returncode == 0, (value, rendered, result.stderr)
        args = json.loads(out.read_text())
        expected = value
        if "prefix-" in template:
            expected = f"prefix-{value}-suffix"
        elif "[" in template:
            expected = f"[{value}]"
        assert args == [expected], (value, rendered)
    assert list(marker.iterdir()) == [] and (victim / "keep").exists()  # no command ran


def test_injection_corpus_appended_and_in_env(tmp_path, argv_dump):
    marker, victim = _targets(tmp_path)
    params = {f"p{i}": raw.format(marker=marker, victim=victim) for i, raw in enumerate(INJECTIONS)}
    out = tmp_path / "out.json"
    env_out = tmp_path / "env.json"
    rendered = render_command(f"{sys.executable} {argv_dump} {out}", params)
    result = _run_sh(rendered)
    assert result.returncode == 0, result.stderr
    args = json.loads(out.read_text())
    expected = [item for name, value in params.items() for item in (f"--{name}", value)]
    assert args == expected
    # the same values as environment variables, read back from the inside
    env = param_env(params)
    reader = (f"{sys.executable} -c \"import json, os; json.dump({{k: v for k, v in os.environ.items() "
              f"if k.startswith('SUBMARINE_PARAM_')}}, open('{env_out}', 'w'))\"")
    assert _run_sh(reader, env).returncode == 0
    assert json.loads(env_out.read_text()) == {f"SUBMARINE_PARAM_{k.upper()}": v for k, v in params.items()}
    assert list(marker.iterdir()) == [] and (victim / "keep").exists()


@pytest.mark.parametrize("text, twice", [
    ("memory=4G,memory=8G", "memory"),
    ("cpu=2,vcores=4", "cpu"),
    ("gpu=1,nvidia.com/gpu=2", "gpu"),
    ("example.com/fpga=1,example.com/fpga=2", "example.com/fpga"),
])
def test_a_resource_given_twice_is_refused(text, twice):
    with pytest.raises(ResourceError) as info:
        Resources.parse(text)
    assert f"{twice} is given twice" in str(info.value) and "keep one" in str(info.value)
