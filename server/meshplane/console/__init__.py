"""The web console: meshes, the mesh graph, proxies, and the weight action, at ``/ui/``.

Served by the API's own Flask app (``meshplane serve``), on the API listener, unless the server
runs with ``--no-ui`` (``MESHPLANE_UI=0``). No JavaScript toolchain and no third-party asset:
see README.md in this package for why, and docs/console.md for what the pages show.
"""

from __future__ import annotations

from flask import Flask

from meshplane.config import Config


def register(app: Flask, config: Config) -> None:
    """Mount the console on ``app`` when ``config.ui`` is on (the default)."""
    if not getattr(config, "ui", True):
        return
    from meshplane.console.views import blueprint

    app.register_blueprint(blueprint())
