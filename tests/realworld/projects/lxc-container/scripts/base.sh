#!/bin/sh -eux
apt-get update
apt-get install -y ca-certificates curl
