# One connection per Airbyte source. The sync catalog is generated from the stream configs:
#   python orchestration/airbyte/generate-catalog.py

resource "airbyte_connection" "shopify" {
  name                 = "shopify -> landing"
  source_id            = airbyte_source_shopify.shopify.source_id
  destination_id       = airbyte_destination_s3.landing.destination_id
  namespace_definition = "custom_format"
  namespace_format     = "shopify"
  schedule             = local.default_schedule
  status               = "active"

  sync_catalog = jsondecode(file("${path.module}/../../assets/streams/shopify/_catalog.json"))
}

resource "airbyte_connection" "klaviyo" {
  name                 = "klaviyo -> landing"
  source_id            = airbyte_source_klaviyo.klaviyo.source_id
  destination_id       = airbyte_destination_s3.landing.destination_id
  namespace_definition = "custom_format"
  namespace_format     = "klaviyo"
  schedule             = local.default_schedule
  status               = "active"

  sync_catalog = jsondecode(file("${path.module}/../../assets/streams/klaviyo/_catalog.json"))
}

resource "airbyte_connection" "stripe" {
  name                 = "stripe -> landing"
  source_id            = airbyte_source_stripe.stripe.source_id
  destination_id       = airbyte_destination_s3.landing.destination_id
  namespace_definition = "custom_format"
  namespace_format     = "stripe"
  status               = "active"

  schedule = {
    schedule_type   = "cron"
    cron_expression = "0 30 */6 * * ?"
  }

  sync_catalog = jsondecode(file("${path.module}/../../assets/streams/stripe/_catalog.json"))
}
