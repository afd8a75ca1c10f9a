# Every box shares these; each OS sets its own values in os_pkrvars/<os>/<os>-<version>-<arch>.pkrvars.hcl.

variable "os_name" {
  type        = string
  description = "OS brand name, e.g. ubuntu"
}

variable "os_version" {
  type        = string
  description = "OS version number, e.g. 24.04"
}

variable "os_arch" {
  type        = string
  description = "OS architecture type, x86_64 or aarch64"
}

variable "is_windows" {
  type    = bool
  default = false
}

variable "iso_url" {
  type = string
}

variable "iso_checksum" {
  type = string
}

variable "boot_command" {
  type    = list(string)
  default = []
}

variable "boot_wait" {
  type    = string
  default = "5s"
}

variable "http_directory" {
  type    = string
  default = null
}

variable "scripts" {
  type    = list(string)
  default = null
}

variable "vbox_guest_os_type" {
  type    = string
  default = "Linux_64"
}

variable "cpus" {
  type    = number
  default = 2
}

variable "memory" {
  type    = number
  default = 2048
}

variable "disk_size" {
  type    = number
  default = 65536
}

variable "ssh_timeout" {
  type    = string
  default = "30m"
}
