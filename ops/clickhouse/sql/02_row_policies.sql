-- Tenant isolation. A retailer user carries its seller TIN as the custom setting SQL_tracegate_tin
-- (server config: custom_settings_prefixes = SQL_), pinned CONST on the user and unchangeable under
-- readonly = 1. One policy per database (ON tracegate.*) covers every table, including the local shard
-- tables the Distributed tables read: with the cluster's inter-server secret, shard-side reads run as the
-- retailer too, so the filter holds there. A table without a seller_tin column fails for a retailer
-- instead of showing rows: fail closed.
CREATE ROW POLICY OR REPLACE tracegate_tenant_rows ON tracegate.*
    FOR SELECT USING seller_tin = getSetting('SQL_tracegate_tin') AS PERMISSIVE
    TO tracegate_retailer;

-- Once a table has any row policy, users no policy names see NO rows. The gateway, analysts and the
-- admin must see all of them. Never grant tracegate_retailer together with another role: permissive
-- policies add up (OR), and such a user would see every tenant.
CREATE ROW POLICY OR REPLACE tracegate_staff_rows ON tracegate.*
    FOR SELECT USING 1 AS PERMISSIVE
    TO tracegate_writer_role, tracegate_analyst_role, tracegate_admin;
