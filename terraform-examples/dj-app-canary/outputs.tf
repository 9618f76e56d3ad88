output "mesh_arn" {
  value = meshplane_mesh.dj_app.arn
}

output "virtual_services" {
  description = "What dj calls (Host header on the egress listener)."
  value       = [for s in meshplane_virtual_service.genre : s.name]
}

output "weights" {
  value = {
    jazz  = { for t in one(one(one(meshplane_route.genre["jazz"].spec).http_route).action).weighted_target : t.virtual_node => t.weight }
    metal = { for t in one(one(one(meshplane_route.genre["metal"].spec).http_route).action).weighted_target : t.virtual_node => t.weight }
  }
}

output "envoy_node_ids" {
  description = "Node ids for `meshplane envoy-bootstrap --node-id` (same as APPMESH_RESOURCE_ARN on App Mesh)."
  value = merge(
    { for name in concat(["dj"], sort(local.music_nodes)) : name => "mesh/${meshplane_mesh.dj_app.name}/virtualNode/${name}" },
    { "dj-gateway" = "mesh/${meshplane_mesh.dj_app.name}/virtualGateway/${meshplane_virtual_gateway.ingress.name}" },
  )
}
