"""Benchmark: CPU to issue mesh certificates (SDS secrets) for N proxies.

What the xDS process does when N proxies whose listeners name an ACM certificate connect (or
all renew at once): work out every node's DNS names from the mesh (one pass), issue one EC
P-256 certificate per node from the mesh CA, and pack it as a ready SDS Secret resource
(`pki.issuer.MeshIssuer.secrets`). The mesh is bench/translate.py's (N nodes, N services behind
N routers). Reported: CPU seconds (process time) for the whole batch and per certificate; the
issue's target is 2,000 proxies in at most 5 s of CPU.

    python bench/sds_issue.py [N] [--repeat 3]

Issuing runs on the propagation thread (first certificates) and on the renewal thread
(renewals), never on the stream loop. The convergence comparison with and without SDS
(docs/benchmarks.md, B-bench) is bench/xds_convergence.py's.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from translate import bench_mesh  # noqa: E402  (bench/translate.py)

from meshplane import pki  # noqa: E402
from meshplane.pki.issuer import MeshIssuer, dns_names_of  # noqa: E402
from meshplane.pki.mesh_ca import MeshAuthority  # noqa: E402
from meshplane.translate import ProxyRef  # noqa: E402
from meshplane.translate.identity import node_dns_names  # noqa: E402
from meshplane.translate.names import MESH_CERTIFICATE_SECRET, MESH_TRUST_SECRET  # noqa: E402

WANTED = (MESH_CERTIFICATE_SECRET, MESH_TRUST_SECRET)


def run_once(n: int) -> float:
    """CPU seconds to name and issue certificates for ``n`` proxies of a fresh issuer."""
    state = bench_mesh(n)
    ca = pki.create_ca("bench mesh CA")
    issuer = MeshIssuer(MeshAuthority(ca.cert, ca.key, (), ca.cert_pem(), "generated"), ttl_s=86400)
    refs = [ProxyRef("bench", "virtualNode", f"node-{i}") for i in range(n)]
    started = time.process_time()
    names = node_dns_names(state)
    for ref in refs:
        issuer.secrets(ref.node_id, ref, dns_names_of(names, ref), WANTED)
    took = time.process_time() - started
    assert issuer.issued == n
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=2000, help="proxies (one node each)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [run_once(args.n) for _ in range(args.repeat)]
    best, median = min(runs), statistics.median(runs)
    print(f"issue {args.n} mesh certificates: CPU median {median:.2f} s, best {best:.2f} s "
          f"({median / args.n * 1000:.2f} ms per certificate; target <= 5 s for 2,000)")


if __name__ == "__main__":
    main()
