#!/bin/bash -e
install_packages() {
    apt-get install --no-install-recommends "$@"
}
