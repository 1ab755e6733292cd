# Backfill: while any stream config of a source says "backfill": true, a reset resource exists for
# the source's connection. Creating it resets the whole connection once (every stream of the
# source re-syncs its history); its trigger, the connection id, is stable, so later applies do
# nothing more. Set "backfill" back to false once the re-sync has completed: the resource is
# destroyed, and the next backfill creates it (and resets) again.

locals {
  backfill = {
    for source in ["shopify", "klaviyo", "stripe"] : source => anytrue([
      for f in fileset("${path.module}/../../assets/streams/${source}", "[!_]*.json") :
      try(jsondecode(file("${path.module}/../../assets/streams/${source}/${f}")).backfill, false)
    ])
  }

  connection_ids = {
    shopify = airbyte_connection.shopify.connection_id
    klaviyo = airbyte_connection.klaviyo.connection_id
    stripe  = airbyte_connection.stripe.connection_id
  }
}

resource "null_resource" "backfill_reset" {
  for_each = { for source, on in local.backfill : source => local.connection_ids[source] if on }

  triggers = {
    connection_id = each.value
  }

  provisioner "local-exec" {
    command = "curl -sf -u \"$AIRBYTE_USERNAME:$AIRBYTE_PASSWORD\" -H 'Content-Type: application/json' -X POST ${var.airbyte_server_url}/jobs -d '{\"connectionId\": \"${each.value}\", \"jobType\": \"reset\"}'"
  }
}
