# The DJ app canary of ../dj-app-canary, written for the official hashicorp/aws provider: the
# aws_appmesh_* resources are unchanged, only the provider block points App Mesh at meshplane.
# This is the "keep hashicorp/aws" migration path (docs/migration.md).

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

# Credentials come from the environment, as for AWS: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
# hold a meshplane key (`meshplane keys create`), or any value for a server without authentication.
provider "aws" {
  region = "us-east-1" # the server's --region (the signature's scope)

  # No STS, no instance metadata, no account lookup: only App Mesh calls, and only to meshplane.
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  # A few attempts, not 25 and not 1: the SDK retries a connection its own transport dropped while
  # reading an answer ("use of closed network connection"); a create it retries carries the same
  # clientToken, so meshplane answers it with the resource it already made.
  max_retries = 3

  endpoints {
    appmesh = var.endpoint
  }
}

locals {
  domain = "${var.namespace}.svc.cluster.local"
  genres = ["jazz", "metal"]
  # jazz-v1, jazz-v2, metal-v1, metal-v2
  music_nodes = toset([for pair in setproduct(local.genres, ["v1", "v2"]) : "${pair[0]}-${pair[1]}"])
  weights     = { jazz = var.jazz_weights, metal = var.metal_weights }
}

resource "aws_appmesh_mesh" "dj_app" {
  name = var.mesh_name

  spec {
    # dj may reach its two backends and nothing else.
    egress_filter {
      type = "DROP_ALL"
    }
  }
}

resource "aws_appmesh_virtual_node" "dj" {
  name      = "dj"
  mesh_name = aws_appmesh_mesh.dj_app.id

  spec {
    listener {
      port_mapping {
        port     = var.node_ports["dj"]
        protocol = "http"
      }
    }

    backend {
      virtual_service {
        virtual_service_name = "jazz.${local.domain}"
      }
    }

    backend {
      virtual_service {
        virtual_service_name = "metal.${local.domain}"
      }
    }

    service_discovery {
      dns {
        # On Kubernetes: "dj.prod.svc.cluster.local".
        hostname = var.node_hostname
      }
    }
  }
}

resource "aws_appmesh_virtual_node" "music" {
  for_each = local.music_nodes

  name      = each.key
  mesh_name = aws_appmesh_mesh.dj_app.id

  spec {
    listener {
      port_mapping {
        port     = var.node_ports[each.key]
        protocol = "http"
      }
    }

    service_discovery {
      dns {
        hostname = var.node_hostname
      }
    }
  }
}

resource "aws_appmesh_virtual_router" "genre" {
  for_each = toset(local.genres)

  name      = "${each.key}-router"
  mesh_name = aws_appmesh_mesh.dj_app.id

  spec {
    listener {
      port_mapping {
        port     = var.service_port
        protocol = "http"
      }
    }
  }
}

resource "aws_appmesh_route" "genre" {
  for_each = toset(local.genres)

  name                = "${each.key}-route"
  mesh_name           = aws_appmesh_mesh.dj_app.id
  virtual_router_name = aws_appmesh_virtual_router.genre[each.key].name

  spec {
    http_route {
      match {
        prefix = "/"
      }

      action {
        weighted_target {
          virtual_node = aws_appmesh_virtual_node.music["${each.key}-v1"].name
          weight       = local.weights[each.key].v1
        }

        weighted_target {
          virtual_node = aws_appmesh_virtual_node.music["${each.key}-v2"].name
          weight       = local.weights[each.key].v2
        }
      }
    }
  }
}

resource "aws_appmesh_virtual_service" "genre" {
  for_each = toset(local.genres)

  name      = "${each.key}.${local.domain}"
  mesh_name = aws_appmesh_mesh.dj_app.id

  spec {
    provider {
      virtual_router {
        virtual_router_name = aws_appmesh_virtual_router.genre[each.key].name
      }
    }
  }
}

# Not in the original walkthrough (it used kubectl port-forward): an ingress gateway in front of dj,
# so `curl http://127.0.0.1:9080/` reaches dj from outside the mesh.
resource "aws_appmesh_virtual_service" "dj" {
  name      = "dj.${local.domain}"
  mesh_name = aws_appmesh_mesh.dj_app.id

  spec {
    provider {
      virtual_node {
        virtual_node_name = aws_appmesh_virtual_node.dj.name
      }
    }
  }
}

resource "aws_appmesh_virtual_gateway" "ingress" {
  name      = "dj-gateway"
  mesh_name = aws_appmesh_mesh.dj_app.id

  spec {
    listener {
      port_mapping {
        port     = var.gateway_port
        protocol = "http"
      }
    }
  }
}

resource "aws_appmesh_gateway_route" "dj" {
  name                 = "dj-route"
  mesh_name            = aws_appmesh_mesh.dj_app.id
  virtual_gateway_name = aws_appmesh_virtual_gateway.ingress.name

  spec {
    http_route {
      match {
        prefix = "/"
      }

      action {
        target {
          virtual_service {
            virtual_service_name = aws_appmesh_virtual_service.dj.name
          }
        }
      }
    }
  }
}
