{{ config(tags=['core', 'gorgias__satisfaction_surveys'], materialized='table') }}

-- Satisfaction per ticket: surveys are append-only, a customer may re-score.
with surveys as (
    select *
    from read_parquet('s3://landing/raw/gorgias/satisfaction_surveys/**/*', hive_partitioning=true)
    where score is not null
),

per_ticket as (
    select
        ticket_id,
        customer_id,
        count(*) as survey_count,
        avg(score) as avg_score,
        arg_max(score, scored_datetime) as latest_score,
        arg_max(body_text, scored_datetime) as latest_comment,
        min(created_datetime) as first_sent_at,
        max(scored_datetime) as last_scored_at
    from surveys
    group by ticket_id, customer_id
    having count(*) >= 1
)

select
    ticket_id,
    customer_id,
    survey_count,
    avg_score,
    latest_score,
    latest_score >= 4 as is_satisfied,
    latest_comment,
    first_sent_at,
    last_scored_at
from per_ticket
