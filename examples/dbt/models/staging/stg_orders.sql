{{ config(unique_key='id') }}

select id, customer_id, status, amount, ordered_at, updated_at, deleted_at
from {{ lakemig.incremental_source(shop_dsn(), 'shop.orders', lookback=var('lookback')) }}
