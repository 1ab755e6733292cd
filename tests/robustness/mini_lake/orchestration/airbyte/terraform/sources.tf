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
