{{
  config(
    tags=['core', 'gorgias__tickets'],
    materialized='incremental',
    unique_key='ticket_id',
    incremental_strategy='delete+insert'
  )
}}

-- Loaded by dlt (merge on id): metadata columns are _dlt_load_id / _dlt_id.
with tickets as (
    select *
    from {{ source('gorgias', 'tickets') }}
    {% if is_incremental() %}
    where _dlt_load_id > (select max(_dlt_load_id) from {{ this }})
    {% endif %}
    qualify row_number() over (partition by id order by updated_datetime desc, _dlt_load_id desc) = 1
)

select
    id as ticket_id,
    status,
    priority,
    channel,
    via,
    spam as is_spam,
    subject,
    customer.id as customer_id,
    lower(customer.email) as customer_email,
    assignee_user.email as assignee_email,
    len(tags) as tag_count,
    tags[1].name as first_tag,
    messages_count,
    created_datetime as created_at,
    updated_datetime as updated_at,
    closed_datetime as closed_at,
    date_diff('minute', created_datetime, closed_datetime) as minutes_to_close,
    _dlt_load_id,
    _dlt_id
from tickets
