"""The HTTP API: routes, authentication, error mapping and the OpenAPI document.

``create_app`` in ``api.app`` builds the Starlette application.
"""
