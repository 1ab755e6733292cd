{{ config(tags=['core', 'gorgias__customers'], materialized='table') }}

-- dlt replaces this stream on every run; Dagster passes the files of the last load.
with customers as (
    select *
    from read_parquet({{ var("files") }}, filename=true, hive_partitioning=true)
    qualify row_number() over (partition by id order by updated_datetime desc, _dlt_load_id desc) = 1
)

select
    id as customer_id,
    external_id,
    lower(email) as email,
    name,
    language,
    len(channels) as channel_count,
    channels[1].type as first_channel_type,
    data::JSON->>'$.shopify_customer_id' as shopify_customer_id,
    created_datetime as created_at,
    updated_datetime as updated_at,
    _dlt_load_id,
    filename as source_file
from customers
