resource "airbyte_source_shopify" "shopify" {
  name         = "shopify"
  workspace_id = var.workspace_id

  configuration = {
    shop       = var.shopify_shop
    start_date = substr(var.start_date, 0, 10)
    credentials = {
      api_password = {
        api_password = var.shopify_api_password
      }
    }
  }
}

resource "airbyte_source_klaviyo" "klaviyo" {
  name         = "klaviyo"
  workspace_id = var.workspace_id

  configuration = {
    api_key    = var.klaviyo_api_key
    start_date = var.start_date
  }
}

resource "airbyte_source_stripe" "stripe" {
  name         = "stripe"
  workspace_id = var.workspace_id

  configuration = {
    account_id           = var.stripe_account_id
    client_secret        = var.stripe_client_secret
    start_date           = var.start_date
    lookback_window_days = 0
    slice_range          = 365
  }
}

# gorgias is loaded by a dlt pipeline (connector = "dlt" in its stream configs): no Airbyte source.
