-- One row per live customer: their live orders and what was paid for them.
with customers as (select * from {{ ref('stg_customers') }} where deleted_at is null),
     orders    as (select * from {{ ref('stg_orders') }} where deleted_at is null),
     payments  as (select * from {{ ref('stg_payments') }} where deleted_at is null),
     per_order as (
         select o.id, o.customer_id, o.amount, coalesce(sum(p.amount), 0) as paid
         from orders o left join payments p on p.order_id = o.id
         group by o.id, o.customer_id, o.amount
     )
select c.id as customer_id,
       c.name,
       c.country,
       count(po.id) as orders,
       coalesce(sum(po.amount), 0) as order_amount,
       coalesce(sum(po.paid), 0) as revenue
from customers c
left join per_order po on po.customer_id = c.id
group by c.id, c.name, c.country
