"""One generic resource and data source, driven by a ResourceSpec; no per-kind code.

Terraform values here are plain dicts as msgpack decodes them (``tf.types.Unknown`` marks values
not known until apply). Each method makes its own HTTP calls through a fresh ``Client`` and keeps
no state between calls, so Terraform's ten concurrent gRPC workers never share anything mutable.

Wire contract (App Mesh REST, docs/architecture.md): create = PUT on the collection with
``{"<kind>Name", "spec", "tags": [{key, value}], "clientToken"}``; update = PUT on the item with
``{"spec", "clientToken"}``; answers are bare ``{meshName, <kind>Name, metadata, spec, status}``;
tags go through ``/tags``, ``/tag`` and ``/untag`` with ``?resourceArn=``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from tf.types import Unknown

from meshplane.terraform import values
from meshplane.terraform.client import ApiError, Client, quote
from meshplane.terraform.diagnostics import Diagnostic, from_api_error, from_problem
from meshplane.terraform.spec import ProviderSpec, ResourceSpec
from meshplane.terraform.validation import check_block

State = dict[str, Any]
Diagnostics = list[Diagnostic]
ClientFactory = Callable[[], Client]

SERVER_SET = ("id", "arn", "created_date", "last_updated_date", "resource_owner")


class NotConfigured(Exception):
    """The provider cannot make a client: no endpoint (no ``endpoint``, no MESHPLANE_ENDPOINT), or an
    unreadable CA file; ``summary`` heads the diagnostic."""

    def __init__(self, detail: str, summary: str = "meshplane endpoint not configured") -> None:
        super().__init__(detail)
        self.summary = summary

    def diagnostic(self) -> Diagnostic:
        return Diagnostic(self.summary, str(self))


def rfc3339(value: Any) -> str | None:
    """An App Mesh timestamp (epoch seconds) as hashicorp/aws shows it: ``2026-11-22T10:00:00Z``."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _dig(data: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)  # type: ignore[assignment]
    return data


class Resource:
    """CRUD, planning, import and validation for one resource type."""

    def __init__(self, spec: ResourceSpec, provider: ProviderSpec, client: ClientFactory) -> None:
        self.spec = spec
        self.provider = provider
        self.client = client
        self.root = spec.resource_root

    # ------------------------------------------------------------ requests
    def _path(self, template: str, state: State) -> str:
        values_by_wire = {wire: state.get(attr) for attr, wire in self.spec.identity.items()}
        for wire, value in values_by_wire.items():
            template = template.replace("{" + wire + "}", quote(str(value)))
        return template

    def _query(self, state: State) -> dict[str, str]:
        owner = state.get("mesh_owner")
        if self.spec.mesh_owner == "optional" and isinstance(owner, str) and owner:
            return {"meshOwner": owner}
        return {}

    def _list_tags(self, client: Client, arn: str) -> dict[str, str]:
        tags: dict[str, str] = {}
        token = ""
        while True:
            page = client.call("GET", self.provider.tag_paths["list"], {"resourceArn": arn, "nextToken": token})
            for tag in page.get("tags") or []:
                tags[tag["key"]] = tag.get("value", "")
            token = page.get("nextToken") or ""
            if not token:
                return tags

    def _computed(self, state: State, data: dict[str, Any]) -> None:
        """Fill the server-set attributes of ``state`` from a response body."""
        for name, rule in self.spec.computed.items():
            value = _dig(data, rule["from"])
            state[name] = rfc3339(value) if rule.get("format") == "rfc3339" else value
        state["id"] = state["name"] if self.spec.id_from == "name" else _dig(data, self.spec.id_from)

    # ------------------------------------------------------------ validation
    def validate(self, config: State | None) -> Diagnostics:
        if not isinstance(config, dict):
            return []
        return [from_problem(p) for p in check_block(self.root, config)]

    # ------------------------------------------------------------ plan
    def plan(self, prior: State | None, proposed: State | None) -> tuple[State | None, list[str], Diagnostics]:
        """The planned state and the attributes forcing replacement.

        Server-set attributes become Unknown where the server will change them: all of them on
        create, ``last_updated_date`` when the spec changes (the server bumps it on update).
        """
        if proposed is None:
            return None, [], []
        planned = dict(proposed)
        planned["tags_all"] = self._tags_all(planned.get("tags"))
        if prior is None:
            for name in SERVER_SET:
                planned[name] = Unknown
            if planned.get("mesh_owner") is None:
                planned["mesh_owner"] = Unknown
            return planned, [], []
        replace = [a.name for a in self.root.attributes
                   if a.force_new and planned.get(a.name) is not None and planned.get(a.name) != prior.get(a.name)]
        if replace:
            for name in SERVER_SET:
                planned[name] = Unknown
        elif self._spec_changed(prior.get("spec"), planned.get("spec")):
            planned["last_updated_date"] = Unknown
        return planned, replace, []

    def _spec_changed(self, before: Any, after: Any) -> bool:
        if values.contains_unknown(after):
            return True
        block = self.spec.spec
        return not values.same(block, values.spec_to_wire(block, before) or {},
                               values.spec_to_wire(block, after) or {})

    @staticmethod
    def _tags_all(tags: Any) -> Any:
        if values.contains_unknown(tags):
            return Unknown
        return dict(tags or {})

    # ------------------------------------------------------------ apply
    def apply(self, prior: State | None, planned: State | None) -> tuple[State | None, Diagnostics]:
        try:
            client = self.client()
        except NotConfigured as exc:
            return prior, [exc.diagnostic()]
        if planned is None:
            return self._delete(client, prior or {})
        if prior is None:
            return self._create(client, planned)
        return self._update(client, prior, planned)

    def _create(self, client: Client, planned: State) -> tuple[State | None, Diagnostics]:
        body: dict[str, Any] = {wire: planned[attr] for attr, wire in self.spec.body_identity().items()}
        wire_spec = values.spec_to_wire(self.spec.spec, planned.get("spec"))
        if wire_spec is not None or self.spec.spec.min_items:
            body["spec"] = wire_spec or {}
        tags = planned.get("tags") or {}
        if tags:
            body["tags"] = [{"key": k, "value": v} for k, v in sorted(tags.items())]
        body["clientToken"] = str(uuid.uuid4())
        try:
            data = client.call("PUT", self._path(self.spec.collection, planned), self._query(planned), body)
        except ApiError as err:
            hint = " (to manage an existing resource, import it)" if err.status == 409 else ""
            return None, from_api_error(f"creating {self.spec.type_name} {planned.get('name')!r}{hint}", err, self.root)
        state = dict(planned)
        self._computed(state, data)
        state["tags_all"] = dict(tags)
        return state, []

    def _update(self, client: Client, prior: State, planned: State) -> tuple[State | None, Diagnostics]:
        state = dict(prior)
        name = f"{self.spec.type_name} {planned.get('name')!r}"
        if self._spec_changed(prior.get("spec"), planned.get("spec")):
            body = {"spec": values.spec_to_wire(self.spec.spec, planned.get("spec")) or {},
                    "clientToken": str(uuid.uuid4())}
            try:
                data = client.call("PUT", self._path(self.spec.item, planned), self._query(planned), body)
            except ApiError as err:
                return prior, from_api_error(f"updating {name}", err, self.root)
            state.update({k: v for k, v in planned.items() if k not in self.spec.computed and k != "id"})
            self._computed(state, data)
        else:
            state.update({k: v for k, v in planned.items() if v is not Unknown})
        before = prior.get("tags_all") or {}
        after = planned.get("tags") or {}
        arn = state.get("arn")
        try:
            removed = sorted(k for k in before if k not in after)
            if removed:
                client.call("PUT", self.provider.tag_paths["untag"], {"resourceArn": arn}, {"tagKeys": removed})
            changed = {k: v for k, v in after.items() if before.get(k) != v}
            if changed:
                client.call("PUT", self.provider.tag_paths["tag"], {"resourceArn": arn},
                            {"tags": [{"key": k, "value": v} for k, v in sorted(changed.items())]})
        except ApiError as err:
            return state, from_api_error(f"tagging {name}", err)
        state["tags"] = planned.get("tags")
        state["tags_all"] = dict(after)
        return state, []

    def _delete(self, client: Client, prior: State) -> tuple[State | None, Diagnostics]:
        try:
            client.call("DELETE", self._path(self.spec.item, prior), self._query(prior))
        except ApiError as err:
            if not err.not_found:
                return prior, from_api_error(f"deleting {self.spec.type_name} {prior.get('name')!r}", err)
        return None, []

    # ------------------------------------------------------------ read / import
    def read(self, current: State) -> tuple[State | None, Diagnostics]:
        """Refresh from the server: None when the resource is gone (404 or status DELETED)."""
        try:
            client = self.client()
            data = client.call("GET", self._path(self.spec.item, current), self._query(current))
            if (data.get("status") or {}).get("status") == "DELETED":
                return None, []
            tags = self._list_tags(client, _dig(data, "metadata.arn") or "")
        except NotConfigured as exc:
            return current, [exc.diagnostic()]
        except ApiError as err:
            if err.not_found:
                return None, []
            return current, from_api_error(f"reading {self.spec.type_name} {current.get('name')!r}", err)
        state = dict(current)
        for attr, wire in self.spec.identity.items():
            state[attr] = data.get(wire) or current.get(attr)
        self._computed(state, data)
        state["spec"] = values.spec_from_wire(self.spec.spec, data.get("spec"), current.get("spec"))
        state["tags"] = None if current.get("tags") is None and not tags else tags
        state["tags_all"] = tags
        return state, []

    def import_(self, import_id: str) -> tuple[State | None, Diagnostics]:
        parts = import_id.split("/")
        names = self.spec.import_parts
        if len(parts) != len(names) or not all(parts):
            expected = self.spec.import_id.replace("{", "").replace("}", "")
            return None, [Diagnostic(f'Unexpected format of ID ("{import_id}")', f"expected {expected}")]
        skeleton = values.conform(self.root, dict(zip(names, parts)))
        state, diags = self.read(skeleton)
        if state is None and not diags:
            diags = [Diagnostic("Cannot import non-existent remote object",
                                f"{self.spec.type_name} {import_id!r} does not exist on the server")]
        return state, diags

    def upgrade(self, raw: Any) -> State:
        """State written by any earlier schema, shaped to the current one."""
        return values.conform(self.root, raw)


class DataSource:
    """``data "meshplane_<kind>"``: look one resource up by its identity attributes."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.spec = resource.spec
        self.root = resource.spec.data_root

    def validate(self, config: State | None) -> Diagnostics:
        return []

    def read(self, config: State) -> tuple[State | None, Diagnostics]:
        res = self.resource
        try:
            client = res.client()
            data = client.call("GET", res._path(self.spec.item, config), res._query(config))
            tags = res._list_tags(client, _dig(data, "metadata.arn") or "")
        except NotConfigured as exc:
            return None, [exc.diagnostic()]
        except ApiError as err:
            return None, from_api_error(f"reading {self.spec.type_name} {config.get('name')!r}", err)
        state = values.conform(self.root, config)
        for attr, wire in self.spec.identity.items():
            state[attr] = data.get(wire) or config.get(attr)
        res._computed(state, data)
        state["spec"] = [values.from_wire(self.spec.spec, data.get("spec") or {})]
        state["tags"] = tags
        return state, []
