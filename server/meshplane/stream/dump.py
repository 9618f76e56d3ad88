"""Config dumps: a stored CSDS ``ClientConfig`` (see ``Snapshot.client_config``) rendered as JSON.

The xDS process stores what it last published to each proxy as protobuf bytes, which costs it a
byte join per proxy; the (rare) reader pays for the JSON rendering instead. Rendering needs the
descriptors of every message type inside the resources (typed_config extensions included) in
the default protobuf pool: the caller imports the modules that define them first.
"""

from __future__ import annotations

from typing import Any

from envoy.service.status.v3 import csds_pb2
from google.protobuf import symbol_database
from google.protobuf.json_format import MessageToDict

from meshplane.stream.types import TYPE_PREFIX, short_name


def render_client_config(data: bytes) -> dict[str, dict[str, Any]]:
    """``{short type name: {resource name: resource as JSON}}``, types and names sorted.

    :raises KeyError: a resource's message type is not in the default descriptor pool.
    """
    config = csds_pb2.ClientConfig.FromString(data)
    database = symbol_database.Default()
    out: dict[str, dict[str, Any]] = {}
    for item in config.generic_xds_configs:
        resources = out.setdefault(short_name(item.type_url), {})
        if not item.HasField("xds_config"):
            continue  # a type present in the snapshot without resources
        cls = database.GetSymbol(item.xds_config.type_url[len(TYPE_PREFIX):])
        message = cls()
        item.xds_config.Unpack(message)
        resources[item.name] = MessageToDict(message)
    return {kind: dict(sorted(by_name.items())) for kind, by_name in sorted(out.items())}
