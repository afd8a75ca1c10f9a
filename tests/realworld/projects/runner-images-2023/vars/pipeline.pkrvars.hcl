location      = "West Europe"
image_version = "20241104.1"
azure_tags = {
  team        = "ci-platform"
  cost_center = "1234"
}
