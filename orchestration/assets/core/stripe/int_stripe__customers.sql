{{ config(tags=['core', 'stripe__customers'], materialized='table') }}

-- Dagster passes the path of the landed file as `file` (dbt run --vars) at run time.
with landed as (
    select *
    from read_parquet('{{ var("file") }}', filename=true, hive_partitioning=true)
),

latest as (
    select *
    from landed
    qualify row_number() over (partition by id order by updated desc, _airbyte_extracted_at desc) = 1
)

select
    id as customer_id,
    lower(email) as email,
    name,
    phone,
    address.country as country,
    address.city as city,
    balance / 100.0 as balance,
    upper(currency) as currency,
    delinquent,
    coalesce(deleted, false) as is_deleted,
    metadata::JSON->>'$.shopify_customer_id' as shopify_customer_id,
    to_timestamp(created) as created_at,
    to_timestamp(updated) as updated_at,
    filename as source_file
from latest
