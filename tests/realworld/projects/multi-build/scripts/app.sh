#!/bin/sh
echo "application layer for $PACKER_BUILD_NAME"
