locals {
  # Paths are computed once here so every source serves and writes the same places.
  http_directory   = var.http_directory == null ? "${path.root}/http" : var.http_directory
  output_directory = "${path.root}/../builds/packer-${var.os_name}-${var.os_version}-${var.os_arch}"
  vm_name          = "${var.os_name}-${var.os_version}-${var.os_arch}"
  shutdown_command = "echo 'vagrant' | sudo -S /sbin/halt -h -p"
}

source "qemu" "vm" {
  accelerator      = "kvm"
  boot_command     = var.boot_command
  boot_wait        = var.boot_wait
  cpus             = var.cpus
  memory           = var.memory
  disk_size        = var.disk_size
  format           = "qcow2"
  headless         = true
  http_directory   = local.http_directory
  iso_url          = var.iso_url
  iso_checksum     = var.iso_checksum
  output_directory = "${local.output_directory}-qemu"
  shutdown_command = local.shutdown_command
  ssh_username     = "vagrant"
  ssh_password     = "vagrant"
  ssh_timeout      = var.ssh_timeout
  vm_name          = local.vm_name
}

source "virtualbox-iso" "vm" {
  boot_command            = var.boot_command
  boot_wait               = var.boot_wait
  cpus                    = var.cpus
  memory                  = var.memory
  disk_size               = var.disk_size
  guest_os_type           = var.vbox_guest_os_type
  hard_drive_interface    = "sata"
  headless                = true
  http_directory          = local.http_directory
  iso_url                 = var.iso_url
  iso_checksum            = var.iso_checksum
  output_directory        = "${local.output_directory}-virtualbox"
  shutdown_command        = local.shutdown_command
  ssh_username            = "vagrant"
  ssh_password            = "vagrant"
  ssh_timeout             = var.ssh_timeout
  virtualbox_version_file = ".vbox_version"
  vm_name                 = local.vm_name
}
