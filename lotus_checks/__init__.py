"""lotus-checks: static checks for a GitOps data platform (Airbyte streams, catalogs, dbt models)."""

__version__ = "0.2.0"
