{{ config(tags=['core', 'shopify__transactions'], materialized='table') }}

with transactions as (
    select *
    from read_parquet({{ var("files") }}, filename=true, hive_partitioning=true)
    where not test
)

select
    id as transaction_id,
    order_id,
    kind,
    gateway,
    status,
    error_code,
    amount,
    currency,
    created_at,
    processed_at,
    payment_details.credit_card_company as card_company,
    payment_details.credit_card_bin as card_bin,
    row_number() over w as transaction_seq,
    sum(case when kind in ('sale', 'capture') and status = 'success' then amount else 0 end) over w as captured_to_date,
    filename as source_file
from transactions
window w as (partition by order_id order by processed_at, id)
