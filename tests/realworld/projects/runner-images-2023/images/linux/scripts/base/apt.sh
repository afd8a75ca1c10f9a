#!/bin/bash -e
echo 'APT::Acquire::Retries "10";' > /etc/apt/apt.conf.d/80-retries
