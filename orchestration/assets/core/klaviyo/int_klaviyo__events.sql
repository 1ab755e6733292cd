{{
  config(
    tags=['core', 'klaviyo__events'],
    materialized='incremental',
    unique_key='event_id',
    incremental_strategy='delete+insert'
  )
}}

with events as (
    select *
    from read_parquet({{ var("files") }}, filename=true, hive_partitioning=true)
    {% if is_incremental() %}
    where _airbyte_extracted_at > (select max(_airbyte_extracted_at) from {{ this }})
    {% endif %}
)

select
    id as event_id,
    relationships.profile.data.id as profile_id,
    relationships.metric.data.id as metric_id,
    datetime as occurred_at,
    attributes.uuid as event_uuid,
    attributes.event_properties::JSON->>'$."$value"' as event_value,
    attributes.event_properties::JSON->>'$.OrderId' as shopify_order_id,
    row_number() over profile_timeline as profile_event_seq,
    lag(datetime) over profile_timeline as previous_event_at,
    _airbyte_extracted_at,
    filename as source_file
from events
window profile_timeline as (partition by relationships.profile.data.id order by datetime)
