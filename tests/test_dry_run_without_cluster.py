"""A dry run is how users preview: it needs no cluster settings, shows placeholders and lists what is missing."""

from __future__ import annotations

import json

import pytest

import submarine_kernel as sk
from submarine_kernel.errors import ValidationError
from submarine_kernel.session import default_session

from yarn_rules import schema_errors

FILES = {"train.py": "print('train')\n"}
TF_PS = dict(runtime="yarn", framework="tensorflow", workers=2, ps=1, files=FILES)


def unconfigured_yarn(**traits):
    runtime = default_session().runtime("yarn")
    runtime.rm_urls = []
    runtime.registry_dns_domain = ""
    for key, value in traits.items():
        setattr(runtime, key, value)
    return runtime


def service_of(preview: str) -> dict:
    """The service JSON a YARN dry run prints between its header line and the classic command."""
    body = preview.split("\n", 1)[1]
    return json.loads(body[:body.index("\n\n# the same job")])


def test_yarn_distributed_dry_run_without_domain_or_rm_prints_peer_lookups_and_what_is_missing():
    unconfigured_yarn()
    preview = sk.submit("python train.py", name="tfdry", dry_run=True, **TF_PS)
    assert preview.startswith("# YARN service tfdry: POST <YarnRuntime.rm_urls>/app/v1/services")
    service = service_of(preview)
    assert schema_errors(service) == []
    master = next(c for c in service["components"] if c["name"] == "master")
    # no registry DNS: the containers look their peers up in the Services API (rendezvous.py)
    assert "__peer_ps-0__:8002" in master["launch_command"] and "SUBMARINE_PEERS=" in master["launch_command"]
    assert "job run --name tfdry" in preview and "--num_workers 2" in preview  # the classic line is there too
    needs = preview.split("# a real submission still needs:\n", 1)[1].splitlines()
    assert needs[:1] == ["#   - no ResourceManager is configured: set YarnRuntime.rm_urls = ['http://rm:8088']"]
    assert needs[1].startswith("#   - the bundle would be stored at file://") and "NodeManagers cannot fetch" in needs[1]


def test_a_real_yarn_submission_still_refuses_without_those_settings_and_uploads_nothing():
    unconfigured_yarn()
    with pytest.raises(ValidationError, match="no ResourceManager is configured"):
        sk.submit("python train.py", name="tfreal", **TF_PS)
    assert sk.jobs() == []


def test_a_configured_yarn_dry_run_lists_nothing_missing():
    unconfigured_yarn(rm_urls=["http://rm1:8088"], registry_dns_domain="ml.example.com", shared_file_storage=True)
    preview = sk.submit("python train.py", name="tfok", dry_run=True, **TF_PS)
    assert "a real submission still needs" not in preview
    assert "<YarnRuntime." not in preview and ".tfok.root.ml.example.com:" in preview


def test_a_dry_run_still_refuses_what_no_setting_can_fix():
    unconfigured_yarn()
    with pytest.raises(ValidationError, match="Bad_Name|job name"):
        sk.submit("python train.py", name="Bad_Name", dry_run=True, **TF_PS)


@pytest.mark.slow
def test_magic_dry_run_for_yarn_needs_no_cluster(tmp_path):
    from kernel_support import errors, execute, text

    nb = execute("%config YarnRuntime.rm_urls = []\n%config YarnRuntime.registry_dns_domain = ''",
                 "%%submarine.python train.py --no-local\nprint('train')",
                 "%submarine run --runtime yarn --framework tensorflow --workers 2 --ps 1 --name tfmagic "
                 "--dry-run -- python train.py", tmp_path=tmp_path)
    cell = nb.cells[2]
    assert errors(cell) == []
    shown = text(cell)
    assert "__peer_master-0__" in shown and "# a real submission still needs:" in shown
