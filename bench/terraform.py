"""Benchmark: Terraform apply / plan / destroy of one mesh, meshplane provider vs hashicorp/aws.

The same HCL (N/4 "services", each a virtual node, a virtual router, a route and a virtual service,
plus the mesh: N+1 resources) is applied against one fresh ``meshplane serve``, once with
``meshplane_*`` resources and once with ``aws_appmesh_*`` resources from hashicorp/aws (only when
its filesystem mirror exists, /opt/tf-plugins or $AWS_PROVIDER_MIRROR). A third row runs our
provider as one long-lived ``--dev`` process (TF_REATTACH_PROVIDERS), which removes the per-command
provider start-ups. Every plan must report no changes.

    python bench/terraform.py [N] [--parallelism 10]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

from meshplane.terraform.cli import terraform_group

AWS_MIRROR = Path(os.environ.get("AWS_PROVIDER_MIRROR", "/opt/tf-plugins"))
BIN = Path(sys.executable).parent


def mesh_hcl(prefix: str, provider_block: str, n: int) -> str:
    services = max(1, n // 4)
    return f'''
{provider_block}

resource "{prefix}mesh" "m" {{
  name = "bench"
  spec {{
    egress_filter {{
      type = "ALLOW_ALL"
    }}
  }}
}}

resource "{prefix}virtual_node" "n" {{
  count     = {services}
  name      = "node-${{count.index}}"
  mesh_name = {prefix}mesh.m.id
  spec {{
    listener {{
      port_mapping {{
        port     = 8080
        protocol = "http"
      }}
    }}
    backend {{
      virtual_service {{
        virtual_service_name = "svc-${{(count.index + 1) % {services}}}.bench.local"
      }}
    }}
    service_discovery {{
      dns {{
        hostname = "node-${{count.index}}.bench.local"
      }}
    }}
  }}
  tags = {{ app = "node-${{count.index}}" }}
}}

resource "{prefix}virtual_router" "r" {{
  count     = {services}
  name      = "router-${{count.index}}"
  mesh_name = {prefix}mesh.m.id
  spec {{
    listener {{
      port_mapping {{
        port     = 8080
        protocol = "http"
      }}
    }}
  }}
}}

resource "{prefix}route" "rt" {{
  count               = {services}
  name                = "route"
  mesh_name           = {prefix}mesh.m.id
  virtual_router_name = {prefix}virtual_router.r[count.index].name
  spec {{
    http_route {{
      match {{
        prefix = "/"
      }}
      action {{
        weighted_target {{
          virtual_node = {prefix}virtual_node.n[count.index].name
          weight       = 90
        }}
        weighted_target {{
          virtual_node = {prefix}virtual_node.n[(count.index + 1) % {services}].name
          weight       = 10
        }}
      }}
    }}
  }}
}}

resource "{prefix}virtual_service" "s" {{
  count     = {services}
  name      = "svc-${{count.index}}.bench.local"
  mesh_name = {prefix}mesh.m.id
  spec {{
    provider {{
      virtual_router {{
        virtual_router_name = {prefix}virtual_router.r[count.index].name
      }}
    }}
  }}
}}
'''


MESHPLANE_BLOCK = '''terraform {
  required_providers {
    meshplane = { source = "meshplane/meshplane" }
  }
}
provider "meshplane" {
  endpoint = "%s"
}'''

AWS_BLOCK = '''terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "bench"
  secret_key                  = "bench"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  max_retries                 = 3
  endpoints {
    appmesh = "%s"
  }
}'''


class Server:
    """``meshplane serve`` on a fresh database and port 0, stopped by PID."""

    def __init__(self, workdir: Path) -> None:
        self.log = open(workdir / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(BIN / "meshplane"), "serve", "--db", str(workdir / "bench.db"), "--api-listen", "127.0.0.1:0",
             "--xds-listen", "off"], stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = re.search(r"meshplane API listening on (http://\S+)", (workdir / "server.log").read_text())
            if found:
                self.endpoint = found.group(1)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError((workdir / "server.log").read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.log.close()


def terraform(workdir: Path, env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.monotonic()
    proc = subprocess.run([shutil.which("terraform") or "terraform", *args, "-no-color"], cwd=workdir, env=env,
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - started
    if proc.returncode not in (0,):
        raise RuntimeError(f"terraform {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    return elapsed, proc.stdout


def run_case(root: Path, name: str, hcl: str, cli_config: str, parallelism: int,
             extra_env: dict[str, str] | None = None) -> dict[str, float]:
    workdir = root / name
    (workdir / "home").mkdir(parents=True)
    (workdir / "main.tf").write_text(hcl)
    (workdir / "cli.tfrc").write_text(cli_config)
    env = {"PATH": os.environ["PATH"], "HOME": str(workdir / "home"), "TF_CLI_CONFIG_FILE": str(workdir / "cli.tfrc"),
           "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", **(extra_env or {})}
    par = f"-parallelism={parallelism}"
    times = {"init": terraform(workdir, env, "init", "-input=false")[0]}
    times["apply"] = terraform(workdir, env, "apply", "-auto-approve", "-input=false", par)[0]
    elapsed, out = terraform(workdir, env, "plan", "-detailed-exitcode", "-input=false", par)
    if "No changes." not in out:
        raise RuntimeError(f"{name}: plan after apply is not clean:\n{out[-3000:]}")
    times["plan"] = elapsed
    times["destroy"] = terraform(workdir, env, "destroy", "-auto-approve", "-input=false", par)[0]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="?", type=int, default=200, help="resources besides the mesh (default 200)")
    parser.add_argument("--parallelism", type=int, default=10)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="meshplane-bench-tf-"))
    server = Server(root)
    results: dict[str, dict[str, float]] = {}
    dev: subprocess.Popen[str] | None = None
    try:
        mirror_dir = root / "mirror"
        installed = CliRunner().invoke(terraform_group, ["install-provider", "--dir", str(mirror_dir)])
        assert installed.exit_code == 0, installed.output
        ours = installed.stdout.split("  direct {")[0] + "}\n"
        hcl = mesh_hcl("meshplane_", MESHPLANE_BLOCK % server.endpoint, args.n)
        results["meshplane"] = run_case(root, "meshplane", hcl, ours, args.parallelism)

        dev = subprocess.Popen([sys.executable, "-m", "meshplane.terraform", "--dev"], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "HOME": str(root)})
        assert dev.stdout is not None
        reattach = dev.stdout.readline().strip().split("=", 1)[1].strip("'")
        results["meshplane (--dev, reattached)"] = run_case(
            root, "meshplane-dev", hcl, ours, args.parallelism, {"TF_REATTACH_PROVIDERS": reattach})

        if (AWS_MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
            aws_config = ('provider_installation {\n  filesystem_mirror {\n'
                          f'    path    = "{AWS_MIRROR}"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }}\n}}\n')
            aws_hcl = mesh_hcl("aws_appmesh_", AWS_BLOCK % server.endpoint, args.n)
            results["hashicorp/aws"] = run_case(root, "aws", aws_hcl, aws_config, args.parallelism)
        else:
            print(f"(hashicorp/aws skipped: no mirror at {AWS_MIRROR})", file=sys.stderr)
    finally:
        if dev is not None:
            dev.kill()
            dev.wait(timeout=10)
        server.stop()

    services = max(1, args.n // 4)
    print(f"\nTerraform, {4 * services + 1} resources (mesh + {services} x node/router/route/service), "
          f"-parallelism={args.parallelism}, one meshplane server\n")
    print(f"{'provider':<32}{'init':>8}{'apply':>9}{'plan':>9}{'destroy':>9}   (seconds)")
    for name, times in results.items():
        print(f"{name:<32}{times['init']:>8.1f}{times['apply']:>9.1f}{times['plan']:>9.1f}{times['destroy']:>9.1f}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
