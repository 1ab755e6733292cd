{{
  config(
    tags=['core', 'shopify__orders'],
    materialized='incremental',
    unique_key='id',
    incremental_strategy='delete+insert'
  )
}}

-- One row per order, latest version wins. Line items are exploded in int_shopify__order_lines.
with raw_orders as (
    select *
    from {{ source('shopify', 'orders') }}
    {% if is_incremental() %}
    where _airbyte_extracted_at > (select max(_airbyte_extracted_at) from {{ this }})
    {% endif %}
),

deduped as (
    select *
    from raw_orders
    qualify row_number() over (partition by id order by _airbyte_extracted_at desc) = 1
)

select
    id,
    name as order_name,
    order_number,
    lower(email) as email,
    customer.id as customer_id,
    customer.orders_count as customer_orders_count,
    created_at,
    updated_at,
    processed_at,
    cancelled_at,
    cancelled_at is not null as is_cancelled,
    currency,
    financial_status,
    fulfillment_status,
    source_name,
    total_price,
    subtotal_price,
    total_tax,
    total_discounts,
    len(line_items) as line_item_count,
    len(discount_codes) as discount_code_count,
    discount_codes[1].code as first_discount_code,
    shipping_address.country_code as shipping_country_code,
    shipping_address.province_code as shipping_province_code,
    shipping_address.city as shipping_city,
    string_split(coalesce(tags, ''), ', ') as tag_list,
    _airbyte_raw_id,
    _airbyte_extracted_at
from deduped
where not test
