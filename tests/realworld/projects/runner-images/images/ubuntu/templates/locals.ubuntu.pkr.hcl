locals {
  // One entry per supported image; the build picks its own with -var image_os=...
  image_properties = {
    ubuntu22 = {
      sku          = "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2"
      os_disk_size = 75
    }
    ubuntu24 = {
      sku          = "Canonical:ubuntu-24_04-lts:server"
      os_disk_size = 80
    }
  }

  sku          = local.image_properties[var.image_os].sku
  os_disk_size = local.image_properties[var.image_os].os_disk_size
}
