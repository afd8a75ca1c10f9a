# A real qemu image build that runs offline in seconds (Packer 1.6.6, HCL2).
#
# The "ISO" is a 1 MiB raw disk (tests/support/bootdisk.py) served over loopback HTTP: its boot
# sector waits ~4 s and triple-faults; `-no-reboot` turns that into a qemu exit, which Packer
# (communicator "none") takes as the guest shutting down, so the build succeeds.

variable "iso_url" {
  type        = string
  description = "http:// URL of the raw boot disk."
}

variable "iso_checksum" {
  type        = string
  description = "\"sha256:<hex>\" of the disk (\"none\" disables verification and caching by checksum)."
}

variable "output_directory" {
  type    = string
  default = "output-qemu"
}

variable "vm_name" {
  type    = string
  default = "hybridcore-qemu.raw"
}

variable "hybridcore_provisioners" {
  type        = list(string)
  default     = []
  description = "Provisioner asset paths handed over by hybridcore-packer (hashed for drift)."
}

source "qemu" "bootdisk" {
  iso_url          = var.iso_url
  iso_checksum     = var.iso_checksum
  disk_image       = true
  format           = "raw"
  disk_size        = "1M" # the default is 40 GB sparse; keep the copy the same size as the input
  output_directory = var.output_directory
  vm_name          = var.vm_name

  accelerator      = "tcg" # no /dev/kvm needed
  headless         = true
  memory           = 64
  communicator     = "none"
  disable_vnc      = true # nothing to type; with VNC on, Packer fails if qemu exits before it connects
  boot_wait        = "0s"
  shutdown_timeout = "2m" # the guest powers off by itself after ~4 s
  qemuargs         = [["-no-reboot", ""]]
}

build {
  sources = ["source.qemu.bootdisk"]
}
