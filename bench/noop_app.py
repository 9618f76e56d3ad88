"""A no-op Flask app: the ceiling for bench/api.py (same Flask, same WSGI server setup, no work).

It answers the two URL shapes the benchmark drives hardest with a constant body the size of a
DescribeVirtualNode answer, so "share of no-op" compares meshplane with the cost of Flask + Granian
alone. It runs on meshplane's own server code (``meshplane.serve.run_wsgi``); start it the way
bench/api.py does:

    .venv/bin/python bench/noop_app.py --listen 127.0.0.1:0 --workers 2 --threads 8
"""

from __future__ import annotations

import argparse

from flask import Flask, Response, request

#: A DescribeVirtualNode answer as meshplane renders it (same size on the wire, about 530 bytes).
BODY = (
    '{"meshName":"bench","virtualNodeName":"r-0","metadata":{"arn":"arn:aws:appmesh:us-east-1:'
    '111122223333:mesh/bench/virtualNode/r-0","createdAt":1795314631.466,"lastUpdatedAt":1795314631.466,'
    '"meshOwner":"111122223333","resourceOwner":"111122223333","uid":"04a7d92b-1c27-450e-92b6-55a9d0674282",'
    '"version":1},"status":{"status":"ACTIVE"},"spec":{"backends":[{"virtualService":{"virtualServiceName":'
    '"svc.bench.local"}}],"listeners":[{"portMapping":{"port":8080,"protocol":"http"}}],"serviceDiscovery":'
    '{"dns":{"hostname":"r-0.bench.local"}}}}'
)


def create_app() -> Flask:
    """The no-op app: GET an item and PUT a collection of virtual nodes, both answering ``BODY``."""
    app = Flask("noop")

    @app.get("/v20190125/meshes/<mesh>/virtualNodes/<name>")
    def describe(mesh: str, name: str) -> Response:
        return Response(BODY, mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok")

    @app.put("/v20190125/meshes/<mesh>/virtualNodes")
    def create(mesh: str) -> Response:
        request.get_data()  # read the body, as any real handler must
        return Response(BODY, mimetype="application/json")

    return app


def main() -> None:
    from meshplane.serve import run_wsgi

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    run_wsgi(create_app, args.listen, workers=args.workers, threads=args.threads, banner="no-op API")


if __name__ == "__main__":
    main()
