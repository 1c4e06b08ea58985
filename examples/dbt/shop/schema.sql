-- The shop's tables in PostgreSQL: every table has an updated_at that a trigger moves on each update,
-- and rows are deleted softly (deleted_at). psql "$SHOP_DSN" -f shop/schema.sql -f shop/data.sql
CREATE SCHEMA shop;

CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN NEW.updated_at = now(); RETURN NEW; END $$;

CREATE TABLE shop.customers (
    id          bigint PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL,
    country     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);

CREATE TABLE shop.orders (
    id          bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES shop.customers (id),
    status      text NOT NULL,
    amount      numeric(12,2) NOT NULL,
    ordered_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);

CREATE TABLE shop.payments (
    id          bigint PRIMARY KEY,
    order_id    bigint NOT NULL REFERENCES shop.orders (id),
    method      text NOT NULL,
    amount      numeric(12,2) NOT NULL,
    paid_at     timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);

CREATE INDEX ON shop.customers (updated_at);
CREATE INDEX ON shop.orders (updated_at);
CREATE INDEX ON shop.payments (updated_at);
CREATE TRIGGER touch BEFORE UPDATE ON shop.customers FOR EACH ROW EXECUTE FUNCTION shop.touch();
CREATE TRIGGER touch BEFORE UPDATE ON shop.orders FOR EACH ROW EXECUTE FUNCTION shop.touch();
CREATE TRIGGER touch BEFORE UPDATE ON shop.payments FOR EACH ROW EXECUTE FUNCTION shop.touch();
