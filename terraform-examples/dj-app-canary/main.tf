# The DJ app from "Learning AWS App Mesh": dj calls jazz and metal; each genre is a virtual
# service behind a router that splits traffic between a v1 and a v2 node (the canary).
# Same HCL as hashicorp/aws's aws_appmesh_* resources, with the prefix renamed (see ../aws-provider).

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
  genres = ["jazz", "metal"]
  # jazz-v1, jazz-v2, metal-v1, metal-v2
  music_nodes = toset([for pair in setproduct(local.genres, ["v1", "v2"]) : "${pair[0]}-${pair[1]}"])
  weights     = { jazz = var.jazz_weights, metal = var.metal_weights }
}

resource "meshplane_mesh" "dj_app" {
  name = var.mesh_name

  spec {
    # dj may reach its two backends and nothing else.
    egress_filter {
      type = "DROP_ALL"
    }
  }
}

resource "meshplane_virtual_node" "dj" {
  name      = "dj"
  mesh_name = meshplane_mesh.dj_app.id

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

resource "meshplane_virtual_node" "music" {
  for_each = local.music_nodes

  name      = each.key
  mesh_name = meshplane_mesh.dj_app.id

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

resource "meshplane_virtual_router" "genre" {
  for_each = toset(local.genres)

  name      = "${each.key}-router"
  mesh_name = meshplane_mesh.dj_app.id

  spec {
    listener {
      port_mapping {
        port     = var.service_port
        protocol = "http"
      }
    }
  }
}

resource "meshplane_route" "genre" {
  for_each = toset(local.genres)

  name                = "${each.key}-route"
  mesh_name           = meshplane_mesh.dj_app.id
  virtual_router_name = meshplane_virtual_router.genre[each.key].name

  spec {
    http_route {
      match {
        prefix = "/"
      }

      action {
        weighted_target {
          virtual_node = meshplane_virtual_node.music["${each.key}-v1"].name
          weight       = local.weights[each.key].v1
        }

        weighted_target {
          virtual_node = meshplane_virtual_node.music["${each.key}-v2"].name
          weight       = local.weights[each.key].v2
        }
      }
    }
  }
}

resource "meshplane_virtual_service" "genre" {
  for_each = toset(local.genres)

  name      = "${each.key}.${local.domain}"
  mesh_name = meshplane_mesh.dj_app.id

  spec {
    provider {
      virtual_router {
        virtual_router_name = meshplane_virtual_router.genre[each.key].name
      }
    }
  }
}

# Not in the original walkthrough (it used kubectl port-forward): an ingress gateway in front of dj,
# so `curl http://127.0.0.1:9080/` reaches dj from outside the mesh.
resource "meshplane_virtual_service" "dj" {
  name      = "dj.${local.domain}"
  mesh_name = meshplane_mesh.dj_app.id

  spec {
    provider {
      virtual_node {
        virtual_node_name = meshplane_virtual_node.dj.name
      }
    }
  }
}

resource "meshplane_virtual_gateway" "ingress" {
  name      = "dj-gateway"
  mesh_name = meshplane_mesh.dj_app.id

  spec {
    listener {
      port_mapping {
        port     = var.gateway_port
        protocol = "http"
      }
    }
  }
}

resource "meshplane_gateway_route" "dj" {
  name                 = "dj-route"
  mesh_name            = meshplane_mesh.dj_app.id
  virtual_gateway_name = meshplane_virtual_gateway.ingress.name

  spec {
    http_route {
      match {
        prefix = "/"
      }

      action {
        target {
          virtual_service {
            virtual_service_name = meshplane_virtual_service.dj.name
          }
        }
      }
    }
  }
}
