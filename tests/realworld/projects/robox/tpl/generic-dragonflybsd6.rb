# Vagrantfile bundled into the generic/dragonflybsd6 box
Vagrant.configure(2) do |config|
  config.vm.box_check_update = false
end
