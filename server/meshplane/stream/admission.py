"""Stream admission: an optional hook the owner gives the server to accept or refuse each stream.

The hook runs once per stream, when the first request names the node, before the stream is
registered anywhere (cache watch, status, metrics). It sees what the transport and the proxy
sent: the node, the call's metadata, the TLS auth context (peer certificate) and the peer
address. It returns None to admit the stream, or a :class:`Refusal`, which ends the stream with
that gRPC status; the stream is then reported to the status sink (``on_refused``) and counted
(``meshplane_xds_refused_streams_total{code}``). What credentials mean is the owner's business:
this package only carries them. The hook may be a coroutine function; a plain function must be
quick (it runs on the server's event loop).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import grpc
from envoy.config.core.v3 import base_pb2


@dataclass(frozen=True)
class Refusal:
    """Why a stream is refused: the gRPC status it ends with and the message sent with it.

    ``code`` is usually UNAUTHENTICATED (no or bad credentials) or PERMISSION_DENIED.
    """

    code: grpc.StatusCode
    message: str


@dataclass(frozen=True)
class StreamOpening:
    """What the admission hook sees of a new stream.

    :param node: the first request's node (``node.id`` is set).
    :param protocol: ``"sotw"`` or ``"delta"``.
    :param metadata: the call's metadata as (key, value) pairs (keys lower case).
    :param auth_context: gRPC's auth context (``x509_pem_cert``, ``transport_security_type`` ...),
        empty on a plaintext port.
    :param peer: the peer address as gRPC gives it (``ipv4:127.0.0.1:53412``).
    """

    node: base_pb2.Node
    protocol: str
    metadata: Sequence[tuple[str, str | bytes]]
    auth_context: Mapping[str, Sequence[bytes]]
    peer: str


#: The hook: None admits the stream.
Admit = Callable[[StreamOpening], "Refusal | None | Awaitable[Refusal | None]"]
