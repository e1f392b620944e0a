"""The API reference page, rendered inside the app from the OpenAPI document."""
