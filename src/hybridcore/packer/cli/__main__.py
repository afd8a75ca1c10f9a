"""``python -m hybridcore.packer.cli``."""

from hybridcore.packer.cli.main import main

main()
