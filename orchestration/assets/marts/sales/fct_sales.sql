{{ config(tags=['marts'], materialized='table') }}

-- One row per order line with order context and the order's refunds spread over its lines.
with orders as (
    select * from {{ ref('int_shopify__orders') }}
    where not is_cancelled
),

lines as (
    select * from {{ ref('int_shopify__order_lines') }}
),

refunds as (
    select * from {{ ref('int_shopify__order_refunds') }}
)

select
    lines.order_line_id,
    orders.id as order_id,
    orders.order_name,
    orders.customer_id,
    orders.email,
    orders.created_at as ordered_at,
    cast(orders.created_at as date) as order_date,
    orders.currency,
    orders.financial_status,
    orders.shipping_country_code,
    orders.first_discount_code,
    lines.product_id,
    lines.variant_id,
    lines.sku,
    lines.product_title,
    lines.quantity,
    lines.price,
    lines.net_line_amount,
    lines.net_line_amount / nullif(sum(lines.net_line_amount) over (partition by orders.id), 0)
        * coalesce(refunds.refunded_amount, 0) as allocated_refund_amount
from lines
join orders on orders.id = lines.order_id
left join refunds on refunds.order_id = orders.id
