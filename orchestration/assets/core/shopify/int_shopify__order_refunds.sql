{{ config(tags=['core', 'shopify__order_refunds'], materialized='table') }}

-- Refunded amount per order, from the refund transactions.
with deduped as (
    select *
    from read_parquet('s3://landing/raw/shopify/order_refunds/**/*', hive_partitioning=true)
    qualify row_number() over (partition by id order by _airbyte_extracted_at desc) = 1
)

select
    order_id,
    count(distinct id) as refund_count,
    sum(t.amount) filter (where t.kind = 'refund' and t.status = 'success') as refunded_amount,
    max(t.currency) as currency,
    bool_or(restock) as any_restock,
    sum(len(refund_line_items)) as refunded_line_count,
    min(created_at) as first_refund_at,
    max(processed_at) as last_refund_processed_at,
    string_agg(note, ' | ') as notes
from deduped, unnest(transactions) as u(t)
group by order_id
having sum(t.amount) filter (where t.kind = 'refund' and t.status = 'success') > 0
