# Istio's bookinfo on App Mesh ("Managing Your EKS Traffic With App Mesh"): productpage calls
# details, reviews and ratings; reviews has three versions, routed v2:1 / v3:2. Every service has
# its own node(s), virtual service, router and "/" route; every node has a health check.
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
  domain = "${var.namespace}.svc.cluster.local"

  # service => the virtual nodes (one per deployment) that serve it
  services = {
    productpage = ["productpage-v1"]
    details     = ["details-v1"]
    reviews     = ["reviews-v1", "reviews-v2", "reviews-v3"]
    ratings     = ["ratings-v1"]
  }

  # node => the services it may call (backends are an allow-list)
  backends = {
    "productpage-v1" = ["details", "reviews", "ratings"]
    "details-v1"     = []
    "reviews-v1"     = []
    "reviews-v2"     = ["ratings"]
    "reviews-v3"     = ["ratings"]
    "ratings-v1"     = []
  }

  # service => node => weight; reviews follows var.reviews_weights, the others have one target
  weights = merge(
    { for service, nodes in local.services : service => { (nodes[0]) = 1 } },
    { reviews = { for version, weight in var.reviews_weights : "reviews-${version}" => weight } },
  )
}

resource "meshplane_mesh" "bookinfo" {
  name = var.mesh_name

  spec {
    egress_filter {
      type = "DROP_ALL"
    }
  }
}

resource "meshplane_virtual_node" "bookinfo" {
  for_each = local.backends

  name      = each.key
  mesh_name = meshplane_mesh.bookinfo.id

  spec {
    listener {
      port_mapping {
        port     = var.node_ports[each.key]
        protocol = "http"
      }

      health_check {
        protocol            = "http"
        path                = var.health_check_path
        healthy_threshold   = 2
        unhealthy_threshold = 3
        timeout_millis      = 2000
        interval_millis     = 5000
      }
    }

    dynamic "backend" {
      for_each = each.value
      content {
        virtual_service {
          virtual_service_name = "${backend.value}.${local.domain}"
        }
      }
    }

    service_discovery {
      dns {
        # On Kubernetes: "<deployment>.bookinfo.svc.cluster.local".
        hostname = var.node_hostname
      }
    }
  }
}

resource "meshplane_virtual_router" "bookinfo" {
  for_each = local.services

  name      = "${each.key}-router"
  mesh_name = meshplane_mesh.bookinfo.id

  spec {
    listener {
      port_mapping {
        port     = var.service_port
        protocol = "http"
      }
    }
  }
}

resource "meshplane_route" "bookinfo" {
  for_each = local.services

  name                = "${each.key}-route"
  mesh_name           = meshplane_mesh.bookinfo.id
  virtual_router_name = meshplane_virtual_router.bookinfo[each.key].name

  spec {
    http_route {
      match {
        prefix = "/"
      }

      action {
        dynamic "weighted_target" {
          for_each = local.weights[each.key]
          content {
            virtual_node = meshplane_virtual_node.bookinfo[weighted_target.key].name
            weight       = weighted_target.value
          }
        }
      }
    }
  }
}

resource "meshplane_virtual_service" "bookinfo" {
  for_each = local.services

  name      = "${each.key}.${local.domain}"
  mesh_name = meshplane_mesh.bookinfo.id

  spec {
    provider {
      virtual_router {
        virtual_router_name = meshplane_virtual_router.bookinfo[each.key].name
      }
    }
  }
}
