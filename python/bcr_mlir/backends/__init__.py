"""Back ends: the IREE hand-off and runtimes, and the aarch64 tools for running arm64 modules."""
