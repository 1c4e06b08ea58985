{{ config(unique_key='id') }}

-- columns := reads only these columns from PostgreSQL.
select *
from {{ lakemig.incremental_source(shop_dsn(), 'shop.payments', lookback=var('lookback'),
                                    columns=['id', 'order_id', 'method', 'amount', 'paid_at', 'updated_at', 'deleted_at']) }}
