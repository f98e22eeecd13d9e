"""The management REST API: Quart blueprints with quart-schema models, documented at /openapi.json."""
