#!/usr/bin/env bash
set -o errexit -o nounset
sudo cp -rv "$WORKING_DIR/rootfs/"* /
sudo install -m 0755 "$WORKING_DIR/bin/"* /usr/bin/
echo "kubelet $KUBERNETES_VERSION"
