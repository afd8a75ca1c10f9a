#!/bin/bash -e
# Retry apt downloads and never prompt: runners install hundreds of packages.
echo 'APT::Acquire::Retries "10";' > /etc/apt/apt.conf.d/80-retries
echo 'APT::Get::Assume-Yes "true";' > /etc/apt/apt.conf.d/90assumeyes
source "$HELPER_SCRIPTS/os.sh"
