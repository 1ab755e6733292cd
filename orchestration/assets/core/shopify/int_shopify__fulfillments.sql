{{ config(tags=['core', 'shopify__fulfillments'], materialized='table') }}

select
    id as fulfillment_id,
    order_id,
    name as fulfillment_name,
    status,
    shipment_status,
    tracking_company,
    tracking_numbers[1] as tracking_number,
    len(tracking_numbers) as tracking_number_count,
    origin_address::JSON->>'$.country_code' as origin_country_code,
    origin_address.city as origin_city,
    created_at,
    updated_at,
    _airbyte_extracted_at
from {{ source('shopify', 'fulfillments') }}
