{{
  config(
    tags=['core', 'stripe__subscriptions'],
    materialized='incremental',
    unique_key='subscription_id',
    incremental_strategy='delete+insert'
  )
}}

with subscriptions as (
    select *
    from {{ source('stripe', 'subscriptions') }}
    {% if is_incremental() %}
    where _airbyte_extracted_at > (select max(_airbyte_extracted_at) from {{ this }})
    {% endif %}
    qualify row_number() over (partition by id order by updated desc, _airbyte_extracted_at desc) = 1
)

select
    id as subscription_id,
    customer as customer_id,
    status,
    plan.id as plan_id,
    plan.product as product_id,
    plan.interval as billing_interval,
    plan.amount / 100.0 as plan_amount,
    quantity,
    cancel_at_period_end,
    to_timestamp(start_date) as started_at,
    to_timestamp(current_period_start) as current_period_start,
    to_timestamp(current_period_end) as current_period_end,
    to_timestamp(canceled_at) as canceled_at,
    to_timestamp(ended_at) as ended_at,
    row_number() over (partition by customer order by start_date) as customer_subscription_seq,
    to_timestamp(created) as created_at,
    to_timestamp(updated) as updated_at,
    _airbyte_extracted_at
from subscriptions
