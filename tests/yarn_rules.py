"""What a YARN ResourceManager accepts as a service: the Services API schema (`tests/protocols/
yarn-services-api.yaml`, stricter than YARN: unknown fields are errors) and ServiceApiUtil's own rules, in
the words YARN uses. The YARN test server answers 400 with these; tests validate dry runs with them."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml

SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


def protocols_dir() -> Path:
    """The upstream schemas kept in the clone (tests/protocols/README.md names their sources)."""
    return Path(__file__).resolve().parent / "protocols"


_SWAGGER = None


def swagger() -> dict:
    global _SWAGGER
    if _SWAGGER is None:
        _SWAGGER = yaml.safe_load((protocols_dir() / "yarn-services-api.yaml").read_text())
    return _SWAGGER


def service_schema(definition: str = "Service", *, partial: bool = False) -> dict:
    """A JSON schema for one swagger definition, its #/definitions refs resolvable in place.

    The YAML models enum states as objects with a `state` property, but YARN's Jackson writes and reads
    them as plain strings (`"state": "STOPPED"`), so those become string enums. Objects get
    additionalProperties: false (stricter than YARN, to catch misspelt fields). `partial` drops `required`
    from the top definition: YARN's own docs PUT partial services such as `{"state": "STOPPED"}`.
    """
    definitions = copy.deepcopy(swagger()["definitions"])
    # The swagger file names the component's restart policy `restartPolicy`, but Component.java reads
    # `restart_policy` and a real RM (3.4.2) answers `restartPolicy` with 404 UnrecognizedPropertyException.
    component = definitions["Component"]["properties"]
    component["restart_policy"] = component.pop("restartPolicy")
    # launch_time is a date in the swagger file; a real RM writes milliseconds since the epoch
    definitions["Container"]["properties"]["launch_time"] = {"type": "integer"}
    # and it lists a component's decommissioned instances, which the swagger file leaves out
    component["decommissioned_instances"] = {"type": "array", "items": {"type": "string"}}
    for name, body in definitions.items():
        props = body.get("properties", {})
        if name.endswith("State") and set(props) == {"state"} and "enum" in props["state"]:
            definitions[name] = {"type": "string", "enum": props["state"]["enum"]}
        elif props:
            body["type"] = "object"
            body["additionalProperties"] = False
    if partial:
        definitions[definition] = {k: v for k, v in definitions[definition].items() if k != "required"}
    return {"$schema": "http://json-schema.org/draft-04/schema#", "definitions": definitions,
            "$ref": f"#/definitions/{definition}"}


def schema_errors(document, definition: str = "Service", *, partial: bool = False) -> list[str]:
    """Every schema violation of `document`, as `path: message` strings."""
    import jsonschema

    validator = jsonschema.Draft4Validator(service_schema(definition, partial=partial))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))]


def yarn_rule_errors(service: dict, secure: bool = False) -> list[str]:
    """ServiceApiUtil.validateAndResolveService's checks, with YARN's wording."""
    errors = []
    name = service.get("name", "")
    errors += _name_errors(name)
    if not service.get("version"):
        errors.append(f"Version of service {name} is either empty or not provided")
    components = service.get("components") or []
    if not components:
        errors.append(f"No component specified for {name}")
    if secure and "/" not in (service.get("kerberos_principal") or {}).get("principal_name", "/"):
        errors.append("Kerberos principal must contain the host part, e.g. user/_HOST@REALM")
    if secure and not service.get("kerberos_principal"):
        errors.append("Kerberos principal or keytab is missing.")
    seen = set()
    for comp in components:
        cname = comp.get("name", "")
        errors += _name_errors(cname)
        if len(cname) > 63 - 19:
            errors.append(f"Component name must be no more than 44 characters: {cname}")
        if cname == name:
            errors.append(f"Component name {cname} must not be same as service name {name}")
        if cname in seen:
            errors.append(f"Component name collision: {cname}")
        seen.add(cname)
        artifact = comp.get("artifact") or service.get("artifact")
        if not comp.get("launch_command") and (artifact or {}).get("type", "DOCKER") != "DOCKER":
            errors.append("Invalid launch command: the launch command is required unless the artifact is DOCKER")
        if not artifact and not comp.get("launch_command"):
            errors.append("Invalid launch command: the launch command is required unless the artifact is DOCKER")
        resource = comp.get("resource") or service.get("resource")
        if not resource:
            errors.append(f"Resource for component {cname} is not provided")
        else:
            if not resource.get("memory"):
                errors.append("Resource memory not provided")
            if resource.get("cpus") is None:
                errors.append("Resource vcores not provided")
            elif resource["cpus"] <= 0:
                errors.append("Invalid number of cpus, must be greater than 0")
        if comp.get("number_of_containers") is None or comp["number_of_containers"] < 0:
            errors.append(f"Invalid number of containers specified for component {cname}: "
                          f"{comp.get('number_of_containers')}")
        if comp.get("containers"):
            errors.append("Containers of a component cannot be given in a POST")
    return errors


def _name_errors(name: str) -> list[str]:
    if not name:
        return ["Name can not be empty!"]
    if "_" in name:
        return [f"Invalid format: {name}, can not use '_', as DNS hostname does not allow '_'. Use '-' Instead. "]
    if len(name) > 63:
        return [f"Invalid format {name}, must be no more than 63 characters "]
    if not SERVICE_NAME.match(name):
        return [f"Invalid format {name}: must match [a-z][a-z0-9-]*"]
    return []
