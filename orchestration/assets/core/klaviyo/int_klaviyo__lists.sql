{{ config(tags=['core', 'klaviyo__lists'], materialized='table') }}

select
    id as list_id,
    attributes.name as list_name,
    attributes.opt_in_process as opt_in_process,
    attributes.created as created_at,
    updated as updated_at
from read_parquet('s3://landing/raw/klaviyo/lists/**/*', hive_partitioning=true)
where type = 'list'
qualify row_number() over (partition by id order by _airbyte_extracted_at desc) = 1
