#!/bin/sh
# Apply tracegate's ClickHouse users, roles and row policies with clickhouse-client (as tracegate_admin).
#   apply.sh rbac                      roles, profiles, quota, row policies, tracegate_writer, tracegate_analyst
#   apply.sh retailer TIN PASSWORD     create (or reset) the account retailer_<TIN>, sees only that TIN's rows
# Environment: CLICKHOUSE_HOST (default clickhouse-s1r1), CLICKHOUSE_ADMIN_PASSWORD, and for `rbac`
# TRACEGATE_WRITER_PASSWORD, TRACEGATE_ANALYST_PASSWORD. Idempotent: rerun it after editing the SQL files.
set -eu

here=$(dirname "$0")
host=${CLICKHOUSE_HOST:-clickhouse-s1r1}

fail() { echo "apply.sh: $*" >&2; exit 2; }

# Passwords are pasted into SQL string literals and sed expressions: allow only characters that need no
# escaping in either (generate them with `openssl rand -hex 24`).
check_password() {
    case "$2" in
        ''|*[!A-Za-z0-9._-]*) fail "$1 must be set and use only A-Z a-z 0-9 . _ -" ;;
    esac
    [ "${#2}" -ge 16 ] || fail "$1 must be at least 16 characters"
}

run_sql() {
    clickhouse-client --host "$host" --user tracegate_admin --password "$CLICKHOUSE_ADMIN_PASSWORD" --multiquery
}

[ -n "${CLICKHOUSE_ADMIN_PASSWORD:-}" ] || fail "CLICKHOUSE_ADMIN_PASSWORD is not set"

case "${1:-}" in
    rbac)
        check_password TRACEGATE_WRITER_PASSWORD "${TRACEGATE_WRITER_PASSWORD:-}"
        check_password TRACEGATE_ANALYST_PASSWORD "${TRACEGATE_ANALYST_PASSWORD:-}"
        run_sql < "$here/01_roles.sql"
        run_sql < "$here/02_row_policies.sql"
        sed -e "s/__WRITER_PASSWORD__/$TRACEGATE_WRITER_PASSWORD/" \
            -e "s/__ANALYST_PASSWORD__/$TRACEGATE_ANALYST_PASSWORD/" \
            "$here/03_users.sql.template" | run_sql
        echo "apply.sh: roles, row policies, tracegate_writer and tracegate_analyst are in place on $host"
        ;;
    retailer)
        [ $# -eq 3 ] || fail "usage: apply.sh retailer TIN PASSWORD"
        case "$2" in
            [0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]) ;;
            *) fail "TIN must be 12 digits (BIN/IIN)" ;;
        esac
        check_password PASSWORD "$3"
        sed -e "s/__TIN__/$2/g" -e "s/__PASSWORD__/$3/" "$here/retailer_user.sql.template" | run_sql
        echo "apply.sh: user retailer_$2 sees rows of seller_tin = $2 only"
        ;;
    *)
        fail "usage: apply.sh rbac | apply.sh retailer TIN PASSWORD"
        ;;
esac
