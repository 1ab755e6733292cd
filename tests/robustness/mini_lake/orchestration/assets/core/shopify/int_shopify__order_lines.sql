{{ config(tags=['core', 'shopify__orders'], materialized='table') }}

-- Fan-out of the orders stream: one row per order line item.
with deduped as (
    select *
    from read_parquet('s3://landing/raw/shopify/orders/**/*', hive_partitioning=true)
    qualify row_number() over (partition by id order by _airbyte_extracted_at desc) = 1
)

select
    deduped.id as order_id,
    li.id as order_line_id,
    li.product_id,
    li.variant_id,
    li.sku,
    li.title as product_title,
    li.variant_title,
    li.vendor,
    li.quantity,
    li.price,
    li.total_discount,
    li.price * li.quantity - coalesce(li.total_discount, 0) as net_line_amount,
    li.requires_shipping,
    li.gift_card,
    deduped.currency,
    deduped.created_at as ordered_at,
    year as partition_year,
    month as partition_month
from deduped, unnest(line_items) as u(li)
where not deduped.test
