"""Zero-diff migration with hashicorp/aws: apply App Mesh demos, discard the database, import
terraform.tfstate into an empty server, and `terraform plan -detailed-exitcode` says 0 (no changes).

The demos: terraform-examples/aws-provider (DJ app), color-app-ingress renamed back to aws_appmesh_*
(as a module, so addresses carry module paths and for_each keys), and a resource file using the
spec features the examples lack (TLS, health checks, Cloud Map attributes, retries, timeouts,
outlier detection, connection pools, header matches, access logs), all under provider default_tags.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from procs import BIN, MeshplaneServer
from test_aws_provider import EXAMPLE, as_aws_module

pytestmark = pytest.mark.terraform

DEFAULT_TAGS = '''
provider "aws" {
  default_tags {
    tags = { team = "core" }
  }
}
'''

RICH = '''
resource "aws_appmesh_virtual_node" "rich" {
  name      = "rich"
  mesh_name = aws_appmesh_mesh.dj_app.id

  spec {
    listener {
      port_mapping {
        port     = 8443
        protocol = "http"
      }
      health_check {
        protocol            = "http"
        path                = "/ping"
        healthy_threshold   = 2
        unhealthy_threshold = 3
        timeout_millis      = 2000
        interval_millis     = 5000
      }
      outlier_detection {
        max_server_errors    = 5
        max_ejection_percent = 50
        interval {
          unit  = "s"
          value = 10
        }
        base_ejection_duration {
          unit  = "s"
          value = 30
        }
      }
      connection_pool {
        http {
          max_connections      = 100
          max_pending_requests = 10
        }
      }
      timeout {
        http {
          per_request {
            unit  = "s"
            value = 15
          }
        }
      }
      tls {
        mode = "STRICT"
        certificate {
          file {
            certificate_chain = "/certs/rich.pem"
            private_key       = "/certs/rich.key"
          }
        }
      }
    }

    backend {
      virtual_service {
        virtual_service_name = "jazz.prod.svc.cluster.local"
        client_policy {
          tls {
            ports = [9080]
            validation {
              trust {
                file {
                  certificate_chain = "/certs/ca.pem"
                }
              }
              subject_alternative_names {
                match {
                  exact = ["jazz.prod.svc.cluster.local"]
                }
              }
            }
          }
        }
      }
    }

    service_discovery {
      aws_cloud_map {
        namespace_name = "prod.local"
        service_name   = "rich"
        attributes = {
          stack = "blue"
          zone  = "a"
        }
      }
    }

    logging {
      access_log {
        file {
          path = "/dev/stdout"
        }
      }
    }
  }

  tags = { app = "rich" }
}

resource "aws_appmesh_route" "rich" {
  name                = "rich-route"
  mesh_name           = aws_appmesh_mesh.dj_app.id
  virtual_router_name = aws_appmesh_virtual_router.genre["jazz"].name

  spec {
    priority = 10
    http_route {
      match {
        prefix = "/rich"
        method = "GET"
        header {
          name = "x-canary"
          match {
            exact = "yes"
          }
        }
      }
      retry_policy {
        http_retry_events = ["server-error", "gateway-error"]
        max_retries       = 2
        per_retry_timeout {
          unit  = "ms"
          value = 500
        }
      }
      timeout {
        idle {
          unit  = "s"
          value = 60
        }
      }
      action {
        weighted_target {
          virtual_node = aws_appmesh_virtual_node.rich.name
          weight       = 1
        }
      }
    }
  }
}
'''


def _import(db: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "meshplane"), "import", str(state), "--db", str(db), *args],
                          capture_output=True, text=True, timeout=120)


def test_state_import_keeps_hashicorp_aws_plan_at_no_changes(aws_workspace, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ws = aws_workspace
    ws.dir.mkdir(parents=True, exist_ok=True)
    for tf in EXAMPLE.glob("*.tf"):
        shutil.copy(tf, ws.dir)
    ws.write(DEFAULT_TAGS, "provider_override.tf")
    ws.write(RICH, "rich.tf")
    module = ws.dir / "modules" / "color"
    module.mkdir(parents=True)
    for name, text in as_aws_module(EXAMPLE.parent / "color-app-ingress").items():
        if name != "outputs.tf":
            (module / name).write_text(text)
    ws.write('module "color" {\n  source = "./modules/color"\n}\n', "color.tf")

    first = MeshplaneServer(tmp_path / "first.db", tmp_path / "first.log")
    try:
        ws.env["TF_VAR_endpoint"] = first.endpoint
        ws.init()
        ws.apply()
    finally:
        first.stop()
    state = ws.dir / "terraform.tfstate"
    addresses = [r for r in json.loads(state.read_text())["resources"] if r["mode"] == "managed"]
    assert any(r.get("module") for r in addresses)

    # the database is gone; a fresh server, running, gets the state imported under it
    second = MeshplaneServer(tmp_path / "second.db", tmp_path / "second.log")
    try:
        dry = _import(tmp_path / "second.db", state, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert "dry run, nothing written" in dry.stdout and "0 unchanged" in dry.stdout
        done = _import(tmp_path / "second.db", state)
        assert done.returncode == 0, done.stderr
        assert "0 unchanged, 0 replaced, 0 skipped" in done.stdout, done.stdout
        again = _import(tmp_path / "second.db", state)
        assert again.returncode == 0, again.stderr
        count = sum(len(r["instances"]) for r in addresses)
        assert again.stdout.splitlines()[-1] == f"0 created, {count} unchanged, 0 replaced, 0 skipped"  # a no-op

        ws.env["TF_VAR_endpoint"] = second.endpoint
        ws.plan()  # -detailed-exitcode: 0 = no changes
    finally:
        state.unlink(missing_ok=True)  # nothing to destroy: the databases are throw-away
        second.stop()
