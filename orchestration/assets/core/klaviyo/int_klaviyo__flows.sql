{{ config(tags=['core', 'klaviyo__flows'], materialized='table') }}

-- Flow counts per trigger type and status, from the latest version of every flow.
-- The flows export lands flat, beside the stream folders, as `flows<part>.parquet` (the
-- destination's path format ends in the stream name): a glob reads every part.
with flows as (
    select *
    from read_parquet('s3://landing/raw/klaviyo/flows*.parquet')
    qualify row_number() over (partition by id order by updated desc) = 1
)

select
    attributes.trigger_type as trigger_type,
    attributes.status as status,
    count(*) as flow_count,
    count(*) filter (where not attributes.archived) as active_flow_count,
    max(updated) as last_updated_at
from flows
group by attributes.trigger_type, attributes.status
having count(*) > 0
