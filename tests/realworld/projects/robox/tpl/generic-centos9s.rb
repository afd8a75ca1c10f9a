# Vagrantfile bundled into the generic/centos9s box
Vagrant.configure(2) do |config|
  config.vm.box_check_update = false
end
