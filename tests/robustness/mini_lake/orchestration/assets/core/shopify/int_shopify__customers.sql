{{ config(tags=['core', 'shopify__customers'], materialized='table') }}

-- Dagster passes the newly landed files of the customers stream as `files`.
with landed as (
    select *
    from read_parquet({{ var("files") }}, filename=true, hive_partitioning=true)
),

latest as (
    select *
    from landed
    qualify row_number() over (partition by id order by updated_at desc, _airbyte_extracted_at desc) = 1
)

select
    id as customer_id,
    lower(email) as email,
    first_name,
    last_name,
    concat_ws(' ', first_name, last_name) as full_name,
    state as account_state,
    verified_email,
    accepts_marketing,
    email_marketing_consent.state as email_consent_state,
    email_marketing_consent.consent_updated_at as email_consent_updated_at,
    default_address.city as city,
    default_address.province_code as province_code,
    default_address.country_code as country_code,
    orders_count,
    total_spent,
    tags,
    created_at,
    updated_at,
    filename as source_file,
    make_date(year::int, month::int, day::int) as landed_on
from latest
