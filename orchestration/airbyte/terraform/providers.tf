terraform {
  required_version = ">= 1.6.0"

  required_providers {
    airbyte = {
      source  = "airbytehq/airbyte"
      version = "~> 0.6"
    }
    null = {
      source  = "hashicorp/null"
      version = "~> 3.2"
    }
  }
}

provider "airbyte" {
  server_url = var.airbyte_server_url
  username   = var.airbyte_username
  password   = var.airbyte_password
}
