// vSphere connection (config/vsphere.pkrvars.hcl)
variable "vsphere_endpoint" {
  type = string
}
variable "vsphere_username" {
  type = string
}
variable "vsphere_password" {
  type      = string
  sensitive = true
}
variable "vsphere_insecure_connection" {
  type    = bool
  default = false
}
variable "vsphere_datacenter" {
  type = string
}
variable "vsphere_cluster" {
  type = string
}
variable "vsphere_datastore" {
  type = string
}
variable "vsphere_network" {
  type = string
}
variable "vsphere_folder" {
  type = string
}

// Build account (config/build.pkrvars.hcl)
variable "build_username" {
  type = string
}
variable "build_password" {
  type      = string
  sensitive = true
}

// Shared settings (config/common.pkrvars.hcl)
variable "common_iso_datastore" {
  type = string
}
variable "common_data_source" {
  type    = string
  default = "disk"
}
variable "common_template_conversion" {
  type    = bool
  default = false
}
variable "common_ovf_export_enabled" {
  type    = bool
  default = false
}

// This guest
variable "vm_guest_os_family" {
  type    = string
  default = "linux"
}
variable "vm_guest_os_name" {
  type    = string
  default = "ubuntu"
}
variable "vm_guest_os_version" {
  type    = string
  default = "22.04-lts"
}
variable "vm_guest_os_type" {
  type    = string
  default = "ubuntu64Guest"
}
variable "vm_firmware" {
  type    = string
  default = "efi"
}
variable "vm_cpu_count" {
  type    = number
  default = 2
}
variable "vm_mem_size" {
  type    = number
  default = 4096
}
variable "vm_disk_size" {
  type    = number
  default = 40960
}
variable "iso_path" {
  type    = string
  default = "iso/linux/ubuntu"
}
variable "iso_file" {
  type    = string
  default = "ubuntu-22.04.4-live-server-amd64.iso"
}
