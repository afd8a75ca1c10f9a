#!/bin/bash -eux
# Put site-specific tweaks here; the variable custom_script can name another file.
echo "==> custom"
