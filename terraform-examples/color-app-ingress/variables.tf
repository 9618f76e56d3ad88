variable "mesh_name" {
  description = "Name of the mesh."
  type        = string
  default     = "ColorApp-Ingress"
}

variable "services_domain" {
  description = "Domain of the virtual services colorteller-1.<domain> and colorteller-2.<domain>."
  type        = string
  default     = "default.svc.cluster.local"
}

variable "colorteller_hostname" {
  description = "Where the colorteller apps are found (DNS service discovery). Loopback by default."
  type        = string
  default     = "127.0.0.1"
}

variable "colorteller_ports" {
  description = "Port each colorteller app listens on (9080 each in the walkthrough; on one host they must differ)."
  type        = map(number)
  default = {
    white = 9081
    blue  = 9082
    red   = 9083
    black = 9084
  }
}

variable "color_weights" {
  description = "Relative weight of each color in its virtual service (the walkthrough uses 1 for all)."
  type        = map(number)
  default = {
    white = 1
    blue  = 1
    red   = 1
    black = 1
  }
}

variable "service_port" {
  description = "Port of the colorteller-1 and colorteller-2 virtual services (their routers' listener)."
  type        = number
  default     = 9080
}

variable "gateway_port" {
  description = "Port the colorgateway-vg Envoy listens on."
  type        = number
  default     = 9080
}
