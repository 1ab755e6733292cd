{{ config(tags=['marts'], materialized='table') }}

-- Customers keyed by email, with what Shopify, Klaviyo and Stripe know about them.
with shopify as (
    select * from {{ ref('int_shopify__customers') }}
),

klaviyo as (
    select * from {{ ref('int_klaviyo__profiles') }}
    where email is not null
),

stripe as (
    select
        email,
        count(*) as stripe_customer_count,
        bool_or(delinquent) as is_delinquent
    from {{ ref('int_stripe__customers') }}
    where not is_deleted
    group by email
)

select
    shopify.customer_id,
    shopify.email,
    shopify.full_name,
    shopify.country_code,
    coalesce(shopify.city, klaviyo.city) as city,
    shopify.orders_count,
    shopify.total_spent,
    shopify.accepts_marketing,
    klaviyo.profile_id as klaviyo_profile_id,
    klaviyo.can_receive_email_marketing,
    klaviyo.predicted_clv,
    klaviyo.churn_probability,
    coalesce(stripe.stripe_customer_count, 0) as stripe_customer_count,
    coalesce(stripe.is_delinquent, false) as is_delinquent,
    shopify.created_at as first_seen_at
from shopify
left join klaviyo on klaviyo.email = shopify.email
left join stripe on stripe.email = shopify.email
