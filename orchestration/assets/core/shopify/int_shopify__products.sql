{{ config(tags=['core', 'shopify__products'], materialized='table') }}

with products as (
    select *
    from {{ source('shopify', 'products') }}
    qualify row_number() over (partition by id order by updated_at desc) = 1
),

variants as (
    select
        products.id as product_id,
        v.id as variant_id,
        v.price,
        v.compare_at_price,
        v.inventory_quantity
    from products, unnest(variants) as u(v)
),

variant_stats as (
    select
        product_id,
        count(*) as variant_count,
        min(price) as min_price,
        max(price) as max_price,
        sum(coalesce(inventory_quantity, 0)) as inventory_quantity,
        bool_or(compare_at_price > price) as has_markdown
    from variants
    group by product_id
)

select
    products.id as product_id,
    products.title,
    products.vendor,
    products.product_type,
    products.handle,
    products.status,
    products.tags,
    products.created_at,
    products.updated_at,
    products.published_at,
    coalesce(variant_stats.variant_count, 0) as variant_count,
    variant_stats.min_price,
    variant_stats.max_price,
    variant_stats.inventory_quantity,
    coalesce(variant_stats.has_markdown, false) as has_markdown
from products
left join variant_stats on variant_stats.product_id = products.id
