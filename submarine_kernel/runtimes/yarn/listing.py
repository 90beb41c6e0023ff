"""The services of ours a ResourceManager knows, for rebuilding a lost registry (`Runtime.list_jobs`,
`submarine-kernel recover`).

The RM lists the user's yarn-service applications (of a name listed twice, the newest counts); each service
is read once, and it is ours when its properties carry a submission token. Its spec comes from its spec
property (secrets `***`); a service made before that was written gets a bare spec with its name.

A real RM (3.4) answers the GET of a finished service with its name, id and state only (no configuration);
YARN keeps the definition it was given in the default file system (`definition_path`) until the service is
destroyed, so a finished service's definition is read from there (`read_definition`, WebHDFS).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ... import contract
from ..base import ListedJob
from . import service as ys
from .client import APP_ID, ResourceManagerClient
from .data import YarnJobData
from .status import iso


#: (service name, owner) → the service definition YARN stored, or None where there is none
DefinitionReader = Callable[[str, str], "Mapping[str, Any] | None"]


def definition_path(name: str, owner: str) -> str:
    """Where YARN's ServiceClient keeps a service's definition in the default file system (until destroyed)."""
    return f"/user/{owner}/.yarn/services/{name}/{name}.json"


def list_services(client: ResourceManagerClient, user: str,
                  read_definition: DefinitionReader | None = None) -> list[ListedJob]:
    """Our services among `user`'s yarn-service applications ("" for every user's), oldest first.
    `read_definition` supplies what the RM's GET of a finished service leaves out."""
    filters = {"applicationTypes": "yarn-service", "deSelects": "resourceRequests"}
    if user:
        filters["user"] = user
    newest: dict[str, dict[str, Any]] = {}
    for app in client.list_apps(**filters):
        name = app.get("name")
        if name and int(app.get("startedTime") or 0) >= int((newest.get(name) or {}).get("startedTime") or 0):
            newest[name] = app
    listed = []
    for name, app in sorted(newest.items(), key=lambda item: int(item[1].get("startedTime") or 0)):
        service = client.get_service(name)
        if service is None:
            continue  # destroyed since: YARN deleted its stored definition too
        owner = str(app.get("user") or user)
        if read_definition is not None and not _properties(service):  # finished: the RM answers no configuration
            stored = read_definition(name, owner)
            if stored is not None:
                service = {**stored, "id": service.get("id") or stored.get("id"), "state": service.get("state")}
        properties = _properties(service)
        if not properties.get(ys.SUBMISSION_PROPERTY):
            continue  # destroyed since, or not made by submarine-kernel
        spec = ListedJob.spec_from(name, properties.get(ys.SPEC_PROPERTY))
        app_id = str(app.get("id") or "")
        started_ms = int(app.get("startedTime") or 0)
        ref = YarnJobData.ref(spec, app_id if APP_ID.fullmatch(app_id) else "", rm=client.active_url,
                              user=owner, submitted_ms=started_ms,
                              tensorboard=(service.get("quicklinks") or {}).get(ys.TENSORBOARD_QUICKLINK, ""))
        listed.append(ListedJob(ref, spec, _bundle_uri(service), properties.get(ys.NOTEBOOK_PROPERTY),
                                iso(started_ms)))
    return listed


def _properties(service: Mapping[str, Any]) -> Mapping[str, Any]:
    return (service.get("configuration") or {}).get("properties") or {}


def _bundle_uri(service: Mapping[str, Any]) -> str:
    """The bundle folder the service localizes its files from ("" for a job without files)."""
    prefix = f"{contract.ALGORITHM_DIR}/"  # as service.py localized each file before 3.4-tested releases
    for entry in ((service.get("configuration") or {}).get("files")) or []:
        name, source = str(entry.get("dest_file") or ""), str(entry.get("src_file") or "")
        name = name[len(prefix):] if name.startswith(prefix) else name.replace("__", "/")  # ys.localized_name
        if name and source.endswith("/" + name):
            return source[:-len(name) - 1]
    return ""
