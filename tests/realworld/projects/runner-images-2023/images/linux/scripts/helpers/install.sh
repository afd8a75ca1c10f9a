#!/bin/bash -e
install_packages() { apt-get install -y --no-install-recommends "$@"; }
