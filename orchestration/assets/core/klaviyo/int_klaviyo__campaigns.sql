{{ config(tags=['core', 'klaviyo__campaigns'], materialized='table') }}

with campaigns as (
    select *
    from {{ source('klaviyo', 'campaigns') }}
    qualify row_number() over (partition by id order by updated_at desc) = 1
)

select
    id as campaign_id,
    attributes.name as campaign_name,
    attributes.status as status,
    attributes.channel as channel,
    attributes.archived as is_archived,
    attributes.send_strategy.method as send_method,
    attributes.send_strategy.options_static.is_local as is_local_send,
    len(attributes.audiences.included) as included_audience_count,
    attributes.tracking_options::JSON->>'$.is_tracking_opens' as tracks_opens,
    attributes.scheduled_at as scheduled_at,
    attributes.send_time as sent_at,
    updated_at
from campaigns
