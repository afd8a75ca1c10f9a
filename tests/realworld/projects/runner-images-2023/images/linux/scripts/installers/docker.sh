#!/bin/bash -e
source "$HELPER_SCRIPTS/install.sh"
install_packages docker-ce docker-ce-cli containerd.io
