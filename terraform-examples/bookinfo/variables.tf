variable "mesh_name" {
  description = "Name of the mesh."
  type        = string
  default     = "bookinfo"
}

variable "namespace" {
  description = "Kubernetes namespace in the virtual service names (<service>.<namespace>.svc.cluster.local)."
  type        = string
  default     = "bookinfo"
}

variable "node_hostname" {
  description = "Where every node's app is found (DNS service discovery). Loopback by default."
  type        = string
  default     = "127.0.0.1"
}

variable "node_ports" {
  description = "Port each deployment listens on (9080 for all on Kubernetes; on one host they must differ)."
  type        = map(number)
  default = {
    "productpage-v1" = 9081
    "details-v1"     = 9082
    "reviews-v1"     = 9083
    "reviews-v2"     = 9084
    "reviews-v3"     = 9085
    "ratings-v1"     = 9086
  }
}

variable "service_port" {
  description = "Port of every virtual service (its router's listener)."
  type        = number
  default     = 9080
}

variable "health_check_path" {
  description = "HTTP path the health checks of every node request."
  type        = string
  default     = "/health"
}

variable "reviews_weights" {
  description = "Relative weights of the reviews versions (v2: black stars, v3: red stars). A version left out gets no traffic."
  type        = map(number)
  default = {
    v2 = 1
    v3 = 2
  }

  validation {
    condition     = length(var.reviews_weights) > 0 && alltrue([for v, w in var.reviews_weights : contains(["v1", "v2", "v3"], v) && w >= 0 && w <= 100])
    error_message = "Keys are v1, v2 or v3; weights are 0..100."
  }
}
