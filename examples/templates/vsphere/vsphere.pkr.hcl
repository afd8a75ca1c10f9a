# vsphere-iso build for Packer 1.6.6 (HCL2). Runs for real against govmomi's
# vCenter simulator (tests/support/vsphere.py); against a real vCenter, add
# iso_paths/boot_command and a communicator instead of the power-off stand-in.

variable "vcenter_server" {
  type        = string
  description = "vCenter host[:port], e.g. 127.0.0.1:8989 for the simulator."
}

variable "vcenter_username" {
  type    = string
  default = "user"
}

variable "vcenter_password" {
  type      = string
  default   = env("VSPHERE_PASSWORD")
  sensitive = true
}

variable "insecure_connection" {
  type    = bool
  default = true
}

variable "datacenter" {
  type    = string
  default = "DC0"
}

variable "cluster" {
  type    = string
  default = "DC0_C0"
}

variable "datastore" {
  type    = string
  default = "LocalDS_0"
}

variable "network" {
  type    = string
  default = "VM Network"
}

variable "vm_name" {
  type    = string
  default = "hybridcore-base"
}

# Provisioner assets hashed by hybridcore for drift; nothing runs them here
# because communicator = "none" (the simulator has no guest).
variable "hybridcore_provisioners" {
  type    = list(string)
  default = []
}

source "vsphere-iso" "base" {
  vcenter_server      = var.vcenter_server
  username            = var.vcenter_username
  password            = var.vcenter_password
  insecure_connection = var.insecure_connection

  datacenter = var.datacenter
  cluster    = var.cluster
  datastore  = var.datastore
  vm_name    = var.vm_name

  guest_os_type = "otherGuest64"
  CPUs          = 1
  RAM           = 256

  storage {
    disk_size             = 16
    disk_thin_provisioned = true
  }

  network_adapters {
    network      = var.network
    network_card = "vmxnet3"
  }

  # No guest to talk to: the VM "installs" and powers itself off (the test
  # sidecar does it), so Packer must neither connect nor shut it down.
  communicator        = "none"
  disable_shutdown    = true
  shutdown_timeout    = "2m"
  convert_to_template = false # the simulator lacks MarkAsTemplate
}

build {
  sources = ["source.vsphere-iso.base"]
}
