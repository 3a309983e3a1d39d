from tests.catalog.isolation import registry_file

__all__ = ["registry_file"]
