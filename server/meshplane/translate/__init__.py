"""translate: pure functions from one mesh's stored state to per-proxy Envoy resources.

No I/O, no Flask, no gRPC, no store, no DNS. Input is a `MeshState` (stored specs, snake_case),
a `ProxyRef` (which node or gateway an Envoy represents) and its `LocalOverrides`; output is a
`ProxyConfig` of protobuf messages by type URL, plus diagnostics. docs/translation.md maps App
Mesh to Envoy.

The modules below are compiled with mypyc when `make` has built them (`meshplane.accel`): this
file, never compiled, puts the compiled modules first on the package path while they match
the sources.
"""

from __future__ import annotations

from meshplane import accel as _accel

__path__ = _accel.extend_path(__name__, __path__)

from .build import Translator
from .build import build_all
from .build import build_proxy_config
from .cloudmap import CloudMapEndpoints
from .cloudmap import CloudMapInstance
from .cloudmap import CloudMapKey
from .cloudmap import cloud_map_key
from .config import InconsistentConfigError
from .config import ProxyConfig
from .config import check_consistent
from .config import consistency_problems
from .deps import proxy_dependencies
from .deps import revision_keys
from .names import CLUSTER_TYPE
from .names import ENDPOINT_TYPE
from .names import LISTENER_TYPE
from .names import ROUTE_TYPE
from .names import TYPE_URLS
from .state import LocalOverrides
from .state import MeshState
from .state import ProxyRef
from .state import Settings

__all__ = [
    "CLUSTER_TYPE",
    "CloudMapEndpoints",
    "CloudMapInstance",
    "CloudMapKey",
    "ENDPOINT_TYPE",
    "LISTENER_TYPE",
    "ROUTE_TYPE",
    "TYPE_URLS",
    "InconsistentConfigError",
    "LocalOverrides",
    "MeshState",
    "ProxyConfig",
    "ProxyRef",
    "Settings",
    "Translator",
    "build_all",
    "build_proxy_config",
    "check_consistent",
    "cloud_map_key",
    "consistency_problems",
    "proxy_dependencies",
    "revision_keys",
]
