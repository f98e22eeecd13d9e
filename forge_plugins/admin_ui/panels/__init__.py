"""The UI's own panels, each contributed through `forge_admin_panels` like any plugin's.

Every module here answers `panel()` (its `AdminPanel`) and `register(blueprint)` (the routes its
forms post to).
"""
