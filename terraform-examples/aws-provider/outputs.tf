output "mesh_arn" {
  value = aws_appmesh_mesh.dj_app.arn
}

output "virtual_services" {
  description = "What dj calls (Host header on the egress listener)."
  value       = [for s in aws_appmesh_virtual_service.genre : s.name]
}

output "weights" {
  value = {
    jazz  = { for t in one(one(one(aws_appmesh_route.genre["jazz"].spec).http_route).action).weighted_target : t.virtual_node => t.weight }
    metal = { for t in one(one(one(aws_appmesh_route.genre["metal"].spec).http_route).action).weighted_target : t.virtual_node => t.weight }
  }
}

output "envoy_node_ids" {
  description = "Node ids for `meshplane envoy-bootstrap --node-id` (same as APPMESH_RESOURCE_ARN on App Mesh)."
  value = merge(
    { for name in concat(["dj"], sort(local.music_nodes)) : name => "mesh/${aws_appmesh_mesh.dj_app.name}/virtualNode/${name}" },
    { "dj-gateway" = "mesh/${aws_appmesh_mesh.dj_app.name}/virtualGateway/${aws_appmesh_virtual_gateway.ingress.name}" },
  )
}
