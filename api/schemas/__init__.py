"""Pydantic request and response models, named like the routers."""
