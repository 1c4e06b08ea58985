{#- The shop's PostgreSQL DSN, from SHOP_DSN. It ends up in the compiled SQL and dbt's logs, so it
    must not hold a password: lakemig reads PGPASSWORD (or ~/.pgpass) like libpq. -#}
{% macro shop_dsn() -%}
  {%- set dsn = env_var("SHOP_DSN", "dbname=shop") -%}
  {%- if "password" in dsn.lower() or modules.re.search("://[^/@]*:[^/@]*@", dsn) -%}
    {{ exceptions.raise_compiler_error("SHOP_DSN holds a password: remove it and set PGPASSWORD instead") }}
  {%- endif -%}
  {{- dsn -}}
{%- endmacro %}
