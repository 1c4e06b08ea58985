{{ config(unique_key='id') }}

select id, name, email, country, created_at, updated_at, deleted_at
from {{ lakemig.incremental_source(shop_dsn(), 'shop.customers', lookback=var('lookback')) }}
