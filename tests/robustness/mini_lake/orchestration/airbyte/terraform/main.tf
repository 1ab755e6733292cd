locals {
  # Connections write Parquet to s3://<bucket>/raw/<source>/<stream>/year=/month=/day=/
  # which the dbt sources read with hive_partitioning=true.
  raw_prefix = "raw"

  default_schedule = {
    schedule_type   = "cron"
    cron_expression = "0 0 * * * ?"
  }
}

resource "airbyte_destination_s3" "landing" {
  name         = "landing-s3"
  workspace_id = var.workspace_id

  configuration = {
    s3_bucket_name    = var.landing_bucket
    s3_bucket_path    = local.raw_prefix
    s3_bucket_region  = "us-east-1"
    s3_endpoint       = var.s3_endpoint
    access_key_id     = var.s3_access_key_id
    secret_access_key = var.s3_secret_access_key
    s3_path_format    = "$${NAMESPACE}/$${STREAM_NAME}/year=$${YEAR}/month=$${MONTH}/day=$${DAY}/"
    format = {
      parquet_columnar_storage = {
        compression_codec = "SNAPPY"
      }
    }
  }
}
