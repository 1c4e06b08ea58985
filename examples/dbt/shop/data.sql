-- 200 customers, 2,000 orders over 30 days, a payment for most orders (some paid in two parts).
INSERT INTO shop.customers (id, name, email, country, created_at, updated_at)
SELECT g, 'Customer ' || g, 'customer' || g || '@example.com', (ARRAY['DE', 'FR', 'US', 'JP'])[1 + g % 4],
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour', now() - interval '1 day'
FROM generate_series(1, 200) g;

INSERT INTO shop.orders (id, customer_id, status, amount, ordered_at, updated_at)
SELECT g, 1 + (g * 7) % 200, (ARRAY['placed', 'shipped', 'delivered'])[1 + g % 3], 5 + (g % 97) * 1.25,
       timestamptz '2024-03-01 00:00:00+00' + g * interval '21 minutes', now() - interval '1 day'
FROM generate_series(1, 2000) g;

INSERT INTO shop.payments (id, order_id, method, amount, paid_at, updated_at)
SELECT g, g, (ARRAY['card', 'paypal', 'invoice'])[1 + g % 3], o.amount - CASE WHEN g % 10 = 0 THEN 5 ELSE 0 END,
       o.ordered_at + interval '5 minutes', now() - interval '1 day'
FROM generate_series(1, 1900) g JOIN shop.orders o ON o.id = g;

INSERT INTO shop.payments (id, order_id, method, amount, paid_at, updated_at)
SELECT 10000 + g, g, 'voucher', 5, o.ordered_at + interval '1 day', now() - interval '1 day'
FROM generate_series(10, 1900, 10) g JOIN shop.orders o ON o.id = g;
