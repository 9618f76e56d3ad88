# The App Mesh overview's canary: serviceA calls serviceb.apps.local, whose router sends 75 % of
# the traffic to serviceB and 25 % to serviceBv2.
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

resource "meshplane_mesh" "apps" {
  name = var.mesh_name

  spec {
    egress_filter {
      type = "DROP_ALL"
    }
  }
}

resource "meshplane_virtual_node" "service_a" {
  name      = "serviceA"
  mesh_name = meshplane_mesh.apps.id

  spec {
    listener {
      port_mapping {
        port     = var.node_ports["serviceA"]
        protocol = "http"
      }
    }

    backend {
      virtual_service {
        virtual_service_name = "serviceb.${var.mesh_name}.local"
      }
    }

    service_discovery {
      dns {
        hostname = var.node_hostname # servicea.apps.local in the overview
      }
    }
  }
}

resource "meshplane_virtual_node" "service_b" {
  for_each = toset(["serviceB", "serviceBv2"])

  name      = each.key
  mesh_name = meshplane_mesh.apps.id

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

resource "meshplane_virtual_service" "service_a" {
  name      = "servicea.${var.mesh_name}.local"
  mesh_name = meshplane_mesh.apps.id

  spec {
    provider {
      virtual_node {
        virtual_node_name = meshplane_virtual_node.service_a.name
      }
    }
  }
}

resource "meshplane_virtual_router" "service_b" {
  name      = "serviceB"
  mesh_name = meshplane_mesh.apps.id

  spec {
    listener {
      port_mapping {
        port     = var.service_port
        protocol = "http"
      }
    }
  }
}

resource "meshplane_route" "service_b" {
  name                = "serviceB"
  mesh_name           = meshplane_mesh.apps.id
  virtual_router_name = meshplane_virtual_router.service_b.name

  spec {
    http_route {
      match {
        prefix = "/"
      }

      action {
        weighted_target {
          virtual_node = meshplane_virtual_node.service_b["serviceB"].name
          weight       = 100 - var.canary_weight
        }

        weighted_target {
          virtual_node = meshplane_virtual_node.service_b["serviceBv2"].name
          weight       = var.canary_weight
        }
      }
    }
  }
}

resource "meshplane_virtual_service" "service_b" {
  name      = "serviceb.${var.mesh_name}.local"
  mesh_name = meshplane_mesh.apps.id

  spec {
    provider {
      virtual_router {
        virtual_router_name = meshplane_virtual_router.service_b.name
      }
    }
  }
}
