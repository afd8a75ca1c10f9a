"""hybridcore: safe, observable HashiCorp Packer builds for hybrid estates."""

__version__ = "0.1.0"
