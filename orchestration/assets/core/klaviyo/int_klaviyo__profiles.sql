{{
  config(
    tags=['core', 'klaviyo__profiles'],
    materialized='incremental',
    unique_key='profile_id',
    incremental_strategy='delete+insert'
  )
}}

with profiles as (
    select *
    from {{ source('klaviyo', 'profiles') }}
    {% if is_incremental() %}
    where _airbyte_extracted_at > (select max(_airbyte_extracted_at) from {{ this }})
    {% endif %}
    qualify row_number() over (partition by id order by updated desc, _airbyte_extracted_at desc) = 1
)

select
    id as profile_id,
    lower(attributes.email) as email,
    attributes.phone_number as phone_number,
    attributes.external_id as external_id,
    attributes.first_name as first_name,
    attributes.last_name as last_name,
    attributes::JSON->>'$.location.city' as city,
    attributes::JSON->>'$.location.region' as region,
    attributes::JSON->>'$.location.country' as country,
    attributes::JSON->>'$.location.timezone' as timezone,
    attributes.subscriptions.email.marketing.can_receive_email_marketing as can_receive_email_marketing,
    attributes.predictive_analytics.predicted_clv as predicted_clv,
    attributes.predictive_analytics.churn_probability as churn_probability,
    attributes.created as created_at,
    updated as updated_at,
    _airbyte_extracted_at
from profiles
