"""The platform's tools and formats: dbt project, Terraform, catalogs, generator, dbt parse."""
