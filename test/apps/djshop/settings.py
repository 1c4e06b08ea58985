"""Settings of a small Django shop: SQLite when DJ_SQLITE is set, else PostgreSQL (the migrated
database as `default`, an empty one as `native` where Django creates its own schema to compare)."""
import os

SECRET_KEY = "test-only"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
                  "django.contrib.admin", "django.contrib.messages", "shop"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, test-only


def _pg(name):
    return {"ENGINE": "django.db.backends.postgresql", "NAME": name, "HOST": os.environ["PGHOST"],
            "PORT": os.environ["PGPORT"], "USER": os.environ["PGUSER"], "PASSWORD": os.environ["PGPASSWORD"]}


if os.environ.get("DJ_SQLITE"):
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["DJ_SQLITE"]}}
else:
    DATABASES = {"default": _pg(os.environ["DJ_DB"]), "native": _pg(os.environ["DJ_NATIVE_DB"])}
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware",
              "django.contrib.auth.middleware.AuthenticationMiddleware",
              "django.contrib.messages.middleware.MessageMiddleware"]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {"context_processors": ["django.contrib.auth.context_processors.auth",
                                                 "django.contrib.messages.context_processors.messages",
                                                 "django.template.context_processors.request"]}}]
