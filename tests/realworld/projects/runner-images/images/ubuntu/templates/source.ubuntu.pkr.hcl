source "azure-arm" "image" {
  client_id       = var.client_id
  client_secret   = var.client_secret
  subscription_id = var.subscription_id
  tenant_id       = var.tenant_id

  location                          = var.location
  image_publisher                   = split(":", local.sku)[0]
  image_offer                       = split(":", local.sku)[1]
  image_sku                         = split(":", local.sku)[2]
  os_disk_size_gb                   = local.os_disk_size
  os_type                           = "Linux"
  vm_size                           = "Standard_D4s_v4"
  managed_image_name                = "${var.managed_image_name}-${var.image_os}-${var.image_version}"
  managed_image_resource_group_name = var.managed_image_resource_group_name

  azure_tags = {
    image_os      = var.image_os
    image_version = var.image_version
  }
}
