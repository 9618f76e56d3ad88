# The Color App behind an ingress gateway ("Introducing Ingress support in AWS App Mesh"):
# four colorteller nodes, two virtual services each split 1:1 over two colors by a router, and a
# virtual gateway on 9080 whose gateway routes /color1 and /color2 lead to those services.
# Same HCL as hashicorp/aws's aws_appmesh_* resources, with the prefix renamed.

terraform {
  required_providers {
    meshplane = {
      source = "meshplane/meshplane"
    }
  }
}

# The endpoint comes from MESHPLANE_ENDPOINT (e.g. http://127.0.0.1:8080).
provider "meshplane" {}

locals {
  # colorteller-1 is white or blue, colorteller-2 red or black.
  services = {
    "1" = ["white", "blue"]
    "2" = ["red", "black"]
  }
  colors = toset(flatten(values(local.services)))
}

resource "meshplane_mesh" "color_app" {
  name = var.mesh_name

  spec {
    egress_filter {
      type = "DROP_ALL"
    }
  }
}

resource "meshplane_virtual_node" "colorteller" {
  for_each = local.colors

  name      = "colorteller-${each.key}-vn"
  mesh_name = meshplane_mesh.color_app.id

  spec {
    listener {
      port_mapping {
        port     = var.colorteller_ports[each.key]
        protocol = "http"
      }

      health_check {
        protocol            = "http"
        path                = "/ping"
        healthy_threshold   = 2
        unhealthy_threshold = 2
        timeout_millis      = 2000
        interval_millis     = 5000
      }
    }

    service_discovery {
      dns {
        # In the walkthrough: colorteller-<color>.<services domain>.
        hostname = var.colorteller_hostname
      }
    }
  }
}

resource "meshplane_virtual_router" "colorteller" {
  for_each = local.services

  name      = "colorteller-vr-${each.key}"
  mesh_name = meshplane_mesh.color_app.id

  spec {
    listener {
      port_mapping {
        port     = var.service_port
        protocol = "http"
      }
    }
  }
}

resource "meshplane_route" "colorteller" {
  for_each = local.services

  name                = "colorteller-route-${each.key}"
  mesh_name           = meshplane_mesh.color_app.id
  virtual_router_name = meshplane_virtual_router.colorteller[each.key].name

  spec {
    http_route {
      match {
        prefix = "/tell"
      }

      action {
        dynamic "weighted_target" {
          for_each = each.value
          content {
            virtual_node = meshplane_virtual_node.colorteller[weighted_target.value].name
            weight       = var.color_weights[weighted_target.value]
          }
        }
      }
    }
  }
}

resource "meshplane_virtual_service" "colorteller" {
  for_each = local.services

  name      = "colorteller-${each.key}.${var.services_domain}"
  mesh_name = meshplane_mesh.color_app.id

  spec {
    provider {
      virtual_router {
        virtual_router_name = meshplane_virtual_router.colorteller[each.key].name
      }
    }
  }
}

resource "meshplane_virtual_gateway" "color_gateway" {
  name      = "colorgateway-vg"
  mesh_name = meshplane_mesh.color_app.id

  spec {
    listener {
      port_mapping {
        port     = var.gateway_port
        protocol = "http"
      }
    }
  }
}

# /color1/tell reaches colorteller-1 as /tell: a prefix match's prefix is rewritten to "/" (App Mesh's default).
resource "meshplane_gateway_route" "color" {
  for_each = local.services

  name                 = "colorgateway-route-${each.key}"
  mesh_name            = meshplane_mesh.color_app.id
  virtual_gateway_name = meshplane_virtual_gateway.color_gateway.name

  spec {
    http_route {
      match {
        prefix = "/color${each.key}"
      }

      action {
        target {
          virtual_service {
            virtual_service_name = meshplane_virtual_service.colorteller[each.key].name
          }
        }
      }
    }
  }
}
