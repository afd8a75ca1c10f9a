# Vagrantfile bundled into the generic/freebsd13 box
Vagrant.configure(2) do |config|
  config.vm.box_check_update = false
end
