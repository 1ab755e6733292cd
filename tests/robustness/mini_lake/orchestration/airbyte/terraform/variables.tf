variable "airbyte_server_url" {
  description = "Airbyte public API URL (inside the cluster)."
  type        = string
  default     = "http://airbyte-airbyte-server-svc.airbyte:8001/api/public/v1"
}

variable "airbyte_username" {
  type      = string
  default   = "airbyte"
  sensitive = true
}

variable "airbyte_password" {
  type      = string
  sensitive = true
}

variable "workspace_id" {
  description = "Airbyte workspace that owns the Lotus Lake sources and connections."
  type        = string
}

variable "landing_bucket" {
  description = "S3 bucket the raw Parquet files land in (read by dbt as s3://landing/raw)."
  type        = string
  default     = "landing"
}

variable "s3_endpoint" {
  type    = string
  default = "http://minio.minio:9000"
}

variable "s3_access_key_id" {
  type      = string
  sensitive = true
}

variable "s3_secret_access_key" {
  type      = string
  sensitive = true
}

variable "shopify_shop" {
  description = "Shop name, e.g. lotus-store (without .myshopify.com)."
  type        = string
}

variable "shopify_api_password" {
  type      = string
  sensitive = true
}

variable "klaviyo_api_key" {
  type      = string
  sensitive = true
}

variable "stripe_account_id" {
  type = string
}

variable "stripe_client_secret" {
  type      = string
  sensitive = true
}

variable "start_date" {
  description = "Earliest date the sources replicate from."
  type        = string
  default     = "2023-01-01T00:00:00Z"
}
