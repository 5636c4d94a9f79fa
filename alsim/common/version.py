"""The version of alsim (the package's metadata names the same)."""

VERSION = "0.3.0"
