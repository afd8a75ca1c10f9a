#!/bin/sh
# Stand-in hardening step shared by every image: a real one would configure sshd, auditd, CIS settings.
set -eu
echo "hardening: disabling interactive root logins"
echo "hardening: done"
