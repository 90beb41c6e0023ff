"""The YARN test server checked by independent clients: yarn-api-client for /ws/v1/cluster, plain requests
for the Services API (as YARN's docs show it), and its own answers against the swagger schema."""

from __future__ import annotations

import time

import pytest
import requests
from yarn_api_client import ResourceManager

from yarn_server import YarnTestServer
from yarn_rules import schema_errors

SERVICE = {
    "name": "sleeper", "version": "1.0.0",
    "components": [
        {"name": "master", "number_of_containers": 1, "launch_command": "sleep 900", "restart_policy": "NEVER",
         "resource": {"cpus": 1, "memory": "256"},
         "configuration": {"properties": {"yarn.service.container-state-report-as-service-state": "true"}}},
        {"name": "worker", "number_of_containers": 2, "launch_command": "sleep 900",
         "resource": {"cpus": 1, "memory": "256", "additional": {"yarn.io/gpu": {"value": 1, "unit": ""}}}},
    ],
}


@pytest.fixture
def yarn():
    server = YarnTestServer(app_id_delay=0.3).start()
    yield server
    server.stop()


def create(server, body=SERVICE, user="alice"):
    return requests.post(f"{server.url}/app/v1/services", params={"user.name": user}, json=body, timeout=10)


def test_services_api_lifecycle_as_documented(yarn):
    answer = create(yarn)
    assert answer.status_code == 202
    assert answer.json()["state"] == "ACCEPTED" and answer.json()["uri"] == "/app/v1/services/sleeper"
    app_id = answer.json()["diagnostics"].split(": ")[1]
    service = requests.get(f"{yarn.url}/app/v1/services/sleeper", timeout=10).json()
    assert "id" not in service and service["state"] == "ACCEPTED"  # the id appears after a delay
    assert schema_errors(service) == []
    time.sleep(0.35)
    yarn.advance("sleeper", "STABLE")
    service = requests.get(f"{yarn.url}/app/v1/services/sleeper", timeout=10).json()
    assert service["id"] == app_id and service["state"] == "STABLE"
    assert schema_errors(service) == []
    instances = sorted(c["component_instance_name"] for comp in service["components"] for c in comp["containers"])
    assert instances == ["master-0", "worker-0", "worker-1"]
    stop = requests.put(f"{yarn.url}/app/v1/services/sleeper", json={"state": "STOPPED"}, timeout=10)
    assert stop.status_code == 200 and "stopped" in stop.json()["diagnostics"]
    assert requests.delete(f"{yarn.url}/app/v1/services/sleeper", timeout=10).status_code == 200
    assert requests.get(f"{yarn.url}/app/v1/services/sleeper", timeout=10).status_code == 404


def test_taken_name_and_invalid_specs(yarn):
    assert create(yarn).status_code == 202
    taken = create(yarn)
    assert taken.status_code == 500 and taken.json()["diagnostics"] == "Service name sleeper is already taken."
    # the swagger file's spelling, which a real RM's Jackson refuses with 404
    misspelt = {**SERVICE, "name": "other", "components": [{**SERVICE["components"][0], "restartPolicy": "NEVER"}]}
    refused = create(yarn, misspelt)
    assert refused.status_code == 404 and refused.json()["exception"] == "UnrecognizedPropertyException"
    underscore = {**SERVICE, "name": "bad_name"}
    answer = create(yarn, underscore)
    assert answer.status_code == 400 and "can not use '_'" in answer.json()["diagnostics"]
    no_memory = {**SERVICE, "name": "nomem", "components": [{"name": "master", "number_of_containers": 1,
                                                             "launch_command": "x", "resource": {"cpus": 1}}]}
    assert "memory" in create(yarn, no_memory).json()["diagnostics"]
    assert create(yarn, {**SERVICE, "name": "noversion", "version": ""}).status_code == 400
    assert requests.put(f"{yarn.url}/app/v1/services/sleeper", json={"state": "RUNNING_NOW"}, timeout=10
                        ).status_code == 404


def test_cluster_api_through_yarn_api_client(yarn):
    for name in ("job-a", "job-b", "job-c"):
        assert create(yarn, {**SERVICE, "name": name}).status_code == 202
    yarn.advance("job-a", "SUCCEEDED")
    yarn.advance("job-b", "FAILED", "master-0 exited with 1")
    yarn.advance("job-c", "STABLE")
    rm = ResourceManager(service_endpoints=[yarn.url], timeout=10)
    assert rm.cluster_information().data["clusterInfo"]["haState"] == "ACTIVE"
    apps = rm.cluster_applications(application_types=["yarn-service"]).data["apps"]["app"]
    by_name = {a["name"]: a for a in apps}
    assert (by_name["job-a"]["state"], by_name["job-a"]["finalStatus"]) == ("FINISHED", "SUCCEEDED")
    assert (by_name["job-b"]["state"], by_name["job-b"]["finalStatus"]) == ("FINISHED", "FAILED")
    assert by_name["job-b"]["diagnostics"] == "master-0 exited with 1"
    assert by_name["job-c"]["state"] == "RUNNING" and by_name["job-a"]["finishedTime"] > 0
    running = rm.cluster_applications(states=["RUNNING"]).data["apps"]["app"]
    assert [a["name"] for a in running] == ["job-c"]
    tagged = rm.cluster_applications(application_tags=["name: job-a"]).data["apps"]["app"]
    assert [a["name"] for a in tagged] == ["job-a"]
    assert rm.cluster_applications(user="nobody").data["apps"] is None
    one = rm.cluster_application(by_name["job-c"]["id"]).data["app"]
    assert one["id"] == by_name["job-c"]["id"] and one["applicationType"] == "yarn-service"
    slim = rm.cluster_applications(de_selects=["resourceRequests"]).data["apps"]["app"]
    assert all("resourceRequests" not in a for a in slim)


def test_time_driven_states(yarn):
    yarn.timeline = {"STARTED": 0.05, "STABLE": 0.1, "SUCCEEDED": 0.2}
    assert create(yarn).status_code == 202
    time.sleep(0.35)
    service = requests.get(f"{yarn.url}/app/v1/services/sleeper", timeout=10).json()
    assert service["state"] == "SUCCEEDED"
    app = requests.get(f"{yarn.url}/ws/v1/cluster/apps/{service['id']}", timeout=10).json()["app"]
    assert (app["state"], app["finalStatus"]) == ("FINISHED", "SUCCEEDED")


@pytest.mark.parametrize("style", ["hadoop3", "hadoop2"])
def test_standby_answers_like_hadoop(yarn, style):
    standby = YarnTestServer(standby=style, active_url=yarn.url).start()
    try:
        answer = requests.get(f"{standby.url}/ws/v1/cluster/apps", allow_redirects=False, timeout=10)
        assert "This is standby RM" in answer.text
        assert answer.status_code == (307 if style == "hadoop3" else 200)
        info = requests.get(f"{standby.url}/ws/v1/cluster/info", timeout=10).json()["clusterInfo"]
        assert info["haState"] == "STANDBY"  # /ws/v1/cluster/info is exempt from the redirect, as in Hadoop
    finally:
        standby.stop()


def test_auth_modes():
    server = YarnTestServer(require_user=True, forbidden_users=("mallory",)).start()
    try:
        assert requests.get(f"{server.url}/ws/v1/cluster/apps", timeout=10).status_code == 401
        assert requests.get(f"{server.url}/ws/v1/cluster/apps", params={"user.name": "a"}, timeout=10).status_code == 200
        assert create(server, user="mallory").status_code == 403
    finally:
        server.stop()
    secure = YarnTestServer(negotiate_users={"tok": "alice"}).start()
    try:
        denied = requests.get(f"{secure.url}/ws/v1/cluster/apps", timeout=10)
        assert denied.status_code == 401 and denied.headers["WWW-Authenticate"] == "Negotiate"
        assert requests.get(f"{secure.url}/ws/v1/cluster/apps", headers={"Authorization": "Negotiate tok"},
                            timeout=10).status_code == 200
    finally:
        secure.stop()
