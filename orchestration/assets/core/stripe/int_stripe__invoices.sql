{{ config(tags=['core', 'stripe__invoices'], materialized='table') }}

with invoices as (
    select *
    from read_parquet('s3://landing/raw/stripe/invoices/**/*', hive_partitioning=true)
    qualify row_number() over (partition by id order by updated desc, _airbyte_extracted_at desc) = 1
),

invoice_lines as (
    select
        invoices.id as invoice_id,
        line.id as line_id,
        line.amount,
        line.quantity,
        line.price.product as product_id
    from invoices, unnest(invoices.lines.data) as u(line)
),

line_totals as (
    select
        invoice_id,
        count(*) as line_count,
        count(distinct product_id) as product_count,
        sum(quantity) as total_quantity,
        sum(amount) as lines_amount
    from invoice_lines
    group by invoice_id
)

select
    invoices.id as invoice_id,
    invoices.number as invoice_number,
    invoices.customer as customer_id,
    lower(invoices.customer_email) as customer_email,
    invoices.subscription as subscription_id,
    invoices.billing_reason,
    invoices.status,
    invoices.paid,
    upper(invoices.currency) as currency,
    invoices.subtotal / 100.0 as subtotal,
    invoices.tax / 100.0 as tax,
    invoices.total / 100.0 as total,
    invoices.amount_due / 100.0 as amount_due,
    invoices.amount_paid / 100.0 as amount_paid,
    coalesce(line_totals.line_count, 0) as line_count,
    line_totals.product_count,
    line_totals.total_quantity,
    line_totals.lines_amount / 100.0 as lines_amount,
    to_timestamp(invoices.created) as created_at,
    to_timestamp(invoices.updated) as updated_at
from invoices
left join line_totals on line_totals.invoice_id = invoices.id
