-- What a day in the shop changes: new customers and orders, updates, soft deletes.
INSERT INTO shop.customers (id, name, email, country)
SELECT g, 'Customer ' || g, 'customer' || g || '@example.com', 'BR' FROM generate_series(201, 210) g;
INSERT INTO shop.orders (id, customer_id, status, amount, ordered_at)
SELECT g, 200 + g % 10 + 1, 'placed', 42.50, timestamptz '2024-04-15 12:00:00+00' + g * interval '1 minute'
FROM generate_series(2001, 2030) g;
INSERT INTO shop.payments (id, order_id, method, amount, paid_at)
SELECT 20000 + g, g, 'card', 42.50, timestamptz '2024-04-15 13:00:00+00' FROM generate_series(2001, 2020) g;
UPDATE shop.customers SET country = 'CA', name = 'Renamed ' || id WHERE id IN (3, 4);
UPDATE shop.orders SET status = 'returned', amount = 0 WHERE id IN (7, 8, 9);
UPDATE shop.orders SET deleted_at = now() WHERE id IN (11, 12);
UPDATE shop.payments SET deleted_at = now() WHERE order_id = 20;
UPDATE shop.customers SET deleted_at = now() WHERE id = 5;
