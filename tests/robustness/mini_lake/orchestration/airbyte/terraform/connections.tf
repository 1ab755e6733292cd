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
