#!/bin/bash -e
source "$HELPER_SCRIPTS/install.sh"
install_packages git git-lfs
git config --system --add safe.directory "*"
