{{
  config(
    tags=['core', 'shopify__orders'],
    materialized='incremental',
    unique_key='order_date',
    incremental_strategy='delete+insert'
  )
}}

-- Daily order totals, loaded partition by partition: an incremental run reads the landing
-- partitions from the last month it loaded on, found by querying the table it builds.
{% if is_incremental() %}
    {% set partition_query %}
        select max(year) as max_year, max(month) as max_month from {{ this }}
    {% endset %}
    {% set results = run_query(partition_query) %}
    {% if execute %}
        {% set max_year = results.columns[0].values()[0] %}
        {% set max_month = results.columns[1].values()[0] %}
    {% endif %}
{% endif %}

select
    cast(created_at as date) as order_date,
    year,
    month::int as month,
    count(distinct id) as order_count,
    sum(total_price) as total_price,
    max(_airbyte_extracted_at) as last_extracted_at
from read_parquet('s3://landing/raw/shopify/orders/**/*', hive_partitioning=true)
where not test
{% if is_incremental() %}
    and (year > {{ max_year }} or (year = {{ max_year }} and month::int >= {{ max_month }}))
{% endif %}
group by all
