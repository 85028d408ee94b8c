"""The app's routers, one module per page and its REST endpoints. Each module exposes ``router``."""
