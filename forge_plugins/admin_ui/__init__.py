"""Forge plugin: the browser admin UI at /admin, built from the panels plugins contribute.

Installed, it is found through the `forge.plugins` entry point; its pages arrive with the admin
UI issue, and until then it contributes no hook.
"""
