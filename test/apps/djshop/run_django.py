"""A Django 5.2 application, run by its own code. `make`: Django's migrate and ORM build the SQLite
database. `use`: the same application against the database sqlite_migrate made from it in
PostgreSQL, unchanged: it reads what was there, writes far past the old counters, relies on a
deferred foreign key, a CHECK and AUTOINCREMENT's high-water mark, and finds no migration to run.
It also lets Django create its own schema in an empty database (`native`) and prints how the
column types differ. Prints one JSON line; any failed check raises (exit status 1)."""
import datetime
import decimal
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
import django  # noqa: E402

django.setup()
from django.contrib.auth.models import User  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import IntegrityError, connection, connections, transaction  # noqa: E402
from django.db.migrations.executor import MigrationExecutor  # noqa: E402
from django.utils import timezone  # noqa: E402
from shop.models import Customer, Order  # noqa: E402


def make():
    call_command("makemigrations", "shop", verbosity=0)
    call_command("migrate", verbosity=0)
    User.objects.create_superuser("admin", "a@example.org", "pw")
    with transaction.atomic():
        make_shop()
    Customer.objects.filter(name="c49").delete()  # AUTOINCREMENT: id 50 is never handed out again
    session = SessionStore()
    session["cart"] = [1, 2]
    session.create()
    c3 = Customer.objects.get(name="c3")
    print(json.dumps({"session": session.session_key, "c3": str(c3.external_id)}))


def make_shop():
    for i in range(50):
        c = Customer.objects.create(name=f"c{i}", email=f"c{i}@example.org", profile={"tier": i % 3},
                                    visits=i, active=i % 4 != 0, tags="x" * (i * 10),
                                    birthday=datetime.date(1990, 1, 1 + i % 28))
        for j in range(3):
            Order.objects.create(customer=c, total=decimal.Decimal(i) + decimal.Decimal(j) / 100, seq=j,
                                 placed=timezone.now())


def column_types(alias):
    with connections[alias].cursor() as cur:
        cur.execute("""SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
                       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped""")
        return {f"{t}.{c}": ty for t, c, ty in cur.fetchall()}


def use(made):
    # Read what the application wrote on SQLite.
    assert User.objects.get(username="admin").check_password("pw")
    c3 = Customer.objects.get(name="c3")
    assert c3.profile == {"tier": 0}, c3.profile
    assert c3.external_id == uuid.UUID(made["c3"]), c3.external_id
    assert Customer.objects.get(external_id=c3.external_id) == c3
    assert c3.joined < timezone.now() and c3.joined.tzinfo is not None
    assert c3.birthday == datetime.date(1990, 1, 4)
    assert c3.tags == "x" * 30
    assert Customer.objects.filter(profile__tier=1).count() == 16
    assert Customer.objects.filter(active=True).count() == 36
    assert sorted(o.total for o in c3.order_set.all()) == [decimal.Decimal("3.00"), decimal.Decimal("3.01"),
                                                          decimal.Decimal("3.02")]
    assert SessionStore(session_key=made["session"]).load() == {"cart": [1, 2]}
    # Write new data, far past what the counters held on SQLite.
    User.objects.create_user("bob", "b@example.org", "pw2")
    new = Customer.objects.create(name="new", email="new@example.org", visits=999_999, tags="y" * 512)
    assert new.id == 51, new.id  # not 50: sqlite_sequence said 50 was used
    Order.objects.create(customer=new, total=decimal.Decimal("12345678.99"), seq=3_000_000_000,
                         placed=timezone.now())
    try:
        with transaction.atomic():
            Customer.objects.create(name="over", email="over@example.org", visits=1_000_000)
        raise AssertionError("CHECK visits_bound was not carried over")
    except IntegrityError:
        pass
    # A deferred foreign key: the child first, its parent later in the same transaction.
    with transaction.atomic():
        Order.objects.create(customer_id=999_999, total=1, seq=1, placed=timezone.now())
        Customer.objects.create(id=999_999, name="late", email="late@example.org")
    with connection.cursor() as cur:
        constraints = connection.introspection.get_constraints(cur, "shop_customer")
    assert "active_name" in constraints and "visits_bound" in constraints, sorted(constraints)
    # Nothing for Django to migrate, no model change detected.
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
    call_command("check")
    # What Django itself creates on PostgreSQL, for comparison.
    call_command("migrate", database="native", verbosity=0)
    ours, native = column_types("default"), column_types("native")
    assert set(ours) == set(native), set(ours) ^ set(native)
    diff = {k: [native[k], ours[k]] for k in sorted(ours) if ours[k] != native[k]}
    print(json.dumps({"differences": diff}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make()
    else:
        use(json.loads(sys.argv[2]))
