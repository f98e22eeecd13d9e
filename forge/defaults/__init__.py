"""The kernel's own behaviour, each piece a small plugin registered through the same hooks a third
party uses (see `forge.plugins.DEFAULT_PLUGINS`). Disable one by name with PLUGINS_DISABLED and
provide your own through the same hook."""
