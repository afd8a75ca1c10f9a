# A single-file template whose script sits next to it, named relative to the folder Packer runs from:
# `./${path.root}/...` is only right when path.root is the relative path a person typed.

source "null" "example" {
  communicator = "none"
}

build {
  sources = ["source.null.example"]

  provisioner "shell-local" {
    script           = "./${path.root}/scripts/hello.sh"
    environment_vars = ["GREETING=hello", "BUILDER=${upper(build.ID)}"]
  }

  provisioner "shell-local" {
    inline = ["sh ${path.root}/scripts/check.sh"]
  }
}
