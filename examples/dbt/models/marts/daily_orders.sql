-- Live orders per UTC day.
select cast(ordered_at at time zone 'UTC' as date) as order_date,
       count(*) as orders,
       count(distinct customer_id) as customers,
       sum(amount) as order_amount
from {{ ref('stg_orders') }}
where deleted_at is null
group by 1
