-- Roles, their grants and settings profiles. No secrets here; apply with apply.sh (idempotent: safe to rerun).
-- Users and roles live in Keeper (user_directories/replicated), so this runs once on any node of the cluster.

-- The gateway: writes every table, reads back chain heads, devices and the migration status.
-- CREATE DATABASE / CREATE TABLE only because `tracegate serve` runs the idempotent migration prelude
-- (CREATE ... IF NOT EXISTS) at start, and ClickHouse checks the grant before it checks existence.
-- No DROP, ALTER (but the UPDATE of chain_heads) or TRUNCATE: schema changes are `tracegate migrate`
-- as tracegate_admin.
CREATE SETTINGS PROFILE OR REPLACE tracegate_writer_profile SETTINGS
    async_insert = 0,                    -- an insert that returned is in a part, not in a server buffer
    distributed_foreground_insert = 1,   -- ... and on its shard, not queued on the node that took it
    insert_deduplicate = 1,              -- the shipper's insert_deduplication_token must work
    max_execution_time = 120;
CREATE ROLE IF NOT EXISTS tracegate_writer_role SETTINGS PROFILE 'tracegate_writer_profile';
GRANT SELECT, INSERT ON tracegate.* TO tracegate_writer_role;
GRANT CREATE DATABASE, CREATE TABLE ON tracegate.* TO tracegate_writer_role;
-- Each batch moves its device's head in Keeper by compare-and-set (migration 0009) before the ack.
GRANT ALTER UPDATE ON tracegate.chain_heads TO tracegate_writer_role;

-- Tax analysts: read everything; readonly = 2 lets their tools (Grafana, DBeaver) change session settings,
-- and the grants allow nothing but SELECT.
CREATE SETTINGS PROFILE OR REPLACE tracegate_analyst_profile SETTINGS
    readonly = 2,
    max_execution_time = 600,
    max_threads = 8;
CREATE ROLE IF NOT EXISTS tracegate_analyst_role SETTINGS PROFILE 'tracegate_analyst_profile';
GRANT SELECT ON tracegate.* TO tracegate_analyst_role;

-- Retailers: their own rows only (02_row_policies.sql). readonly = 1 forbids changing ANY setting, so a
-- retailer cannot overwrite SQL_tracegate_tin (also pinned CONST on each user); budgets keep one tenant
-- from starving the others.
CREATE SETTINGS PROFILE OR REPLACE tracegate_retailer_profile SETTINGS
    readonly = 1,
    max_execution_time = 60,
    max_result_rows = 1000000,
    result_overflow_mode = 'throw',
    max_threads = 4;
CREATE ROLE IF NOT EXISTS tracegate_retailer;
GRANT SELECT ON tracegate.* TO tracegate_retailer;
-- Counted per user (KEYED BY user_name), not shared by every retailer.
CREATE QUOTA OR REPLACE tracegate_retailer_quota KEYED BY user_name
    FOR INTERVAL 1 hour MAX queries = 600, read_rows = 5000000000
    TO tracegate_retailer;
