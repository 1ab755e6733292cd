{{ config(tags=['core', 'stripe__charges'], materialized='table') }}

with charges as (
    select *
    from {{ source('stripe', 'charges') }}
    qualify row_number() over (partition by id order by updated desc, _airbyte_extracted_at desc) = 1
)

select
    id as charge_id,
    customer as customer_id,
    invoice as invoice_id,
    payment_intent as payment_intent_id,
    amount / 100.0 as amount,
    amount_captured / 100.0 as amount_captured,
    amount_refunded / 100.0 as amount_refunded,
    upper(currency) as currency,
    status,
    paid,
    captured,
    refunded,
    failure_code,
    outcome.risk_level as risk_level,
    outcome.network_status as network_status,
    payment_method_details.type as payment_method_type,
    payment_method_details.card.brand as card_brand,
    payment_method_details.card.country as card_country,
    lower(billing_details.email) as billing_email,
    billing_details.address.country as billing_country,
    to_timestamp(created) as created_at,
    to_timestamp(updated) as updated_at
from charges
