#!/bin/sh
echo "base layer for $PACKER_BUILD_NAME"
