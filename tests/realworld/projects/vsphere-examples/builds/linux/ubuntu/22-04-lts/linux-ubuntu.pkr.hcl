/*
    Ubuntu Server 22.04 LTS on vSphere: vsphere-iso builder, cloud-init seed on a CD, Ansible
    configuration, OVF export and a manifest. Run from the repository root with the config/ var files.
*/

packer {
  required_version = ">= 1.6.6"
}

locals {
  build_by          = "Built by: HashiCorp Packer ${packer.version}"
  build_description = "${file("${abspath(path.root)}/data/description.txt")}\n${local.build_by}"
  manifest_path     = "${path.cwd}/manifests/"
  ovf_export_path   = "${path.cwd}/artifacts/${local.vm_name}"
  vm_name           = "${var.vm_guest_os_family}-${var.vm_guest_os_name}-${var.vm_guest_os_version}"
  seed_files = [
    "${path.root}/data/meta-data",
    "${path.root}/data/user-data",
  ]
}

source "vsphere-iso" "linux-ubuntu" {
  vcenter_server      = var.vsphere_endpoint
  username            = var.vsphere_username
  password            = var.vsphere_password
  insecure_connection = var.vsphere_insecure_connection

  datacenter = var.vsphere_datacenter
  cluster    = var.vsphere_cluster
  datastore  = var.vsphere_datastore
  folder     = var.vsphere_folder

  vm_name       = local.vm_name
  guest_os_type = var.vm_guest_os_type
  firmware      = var.vm_firmware
  CPUs          = var.vm_cpu_count
  RAM           = var.vm_mem_size
  notes         = local.build_description

  storage {
    disk_size             = var.vm_disk_size
    disk_thin_provisioned = true
  }
  network_adapters {
    network      = var.vsphere_network
    network_card = "vmxnet3"
  }

  iso_paths = ["[${var.common_iso_datastore}] ${var.iso_path}/${var.iso_file}"]
  cd_files  = var.common_data_source == "disk" ? local.seed_files : null
  cd_label  = var.common_data_source == "disk" ? "cidata" : null

  boot_wait = "5s"
  boot_command = [
    "<wait3s>c<wait3s>",
    "linux /casper/vmlinuz --- autoinstall ds=\"nocloud\"<enter><wait>",
    "initrd /casper/initrd<enter><wait>",
    "boot<enter>",
  ]
  shutdown_command = "echo '${var.build_password}' | sudo -S -E shutdown -P now"

  communicator = "ssh"
  ssh_username = var.build_username
  ssh_password = var.build_password
  ssh_timeout  = "30m"

  convert_to_template = var.common_template_conversion

  dynamic "export" {
    for_each = var.common_ovf_export_enabled ? [1] : []
    content {
      name             = local.vm_name
      force            = true
      output_directory = local.ovf_export_path
    }
  }
}

build {
  sources = ["source.vsphere-iso.linux-ubuntu"]

  provisioner "ansible" {
    user                   = var.build_username
    skip_version_check     = true
    galaxy_file            = "${path.cwd}/ansible/linux-requirements.yml"
    playbook_file          = "${path.cwd}/ansible/linux-playbook.yml"
    roles_path             = "${path.cwd}/ansible/roles"
    ansible_env_vars       = ["ANSIBLE_CONFIG=${path.cwd}/ansible/ansible.cfg"]
    extra_arguments        = ["--extra-vars", "build_username=${var.build_username}"]
  }

  post-processor "manifest" {
    output     = "${local.manifest_path}${local.vm_name}.json"
    strip_path = true
    custom_data = {
      vsphere_cluster = var.vsphere_cluster
      vm_cpu_count    = var.vm_cpu_count
    }
  }
}
