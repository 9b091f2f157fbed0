-- Migration 0020 as released (fixed text); {database} stands for the database's name.
-- The stage table and its views replaced, rendered from storage/columns.py: the events view writes event_sha256.
DROP VIEW IF EXISTS {database}.journal_receipts_to_events
;
DROP VIEW IF EXISTS {database}.journal_receipts_to_receipts
;
DROP VIEW IF EXISTS {database}.journal_receipts_to_receipt_lines
;
DROP VIEW IF EXISTS {database}.journal_receipts_to_code_events
;
DROP VIEW IF EXISTS {database}.journal_receipts_to_anomalies
;
DROP TABLE IF EXISTS {database}.journal_receipts
;
CREATE TABLE IF NOT EXISTS {database}.journal_receipts
(
    envelope_device_id String,
    envelope_seq UInt64,
    envelope_prev_hash FixedString(32),
    envelope_event_time_ms Int64,
    envelope_event_receipt_operation Int32,
    envelope_event_receipt_shift_number UInt32,
    envelope_event_receipt_document_number UInt64,
    envelope_event_receipt_shift_document_number UInt32,
    envelope_event_receipt_cashier String,
    envelope_event_receipt_lines Array(Tuple(name String, gtin String, quantity Int64, price Int64, discount Int64, markup Int64, sum Int64, taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)), marking_codes Array(String), unit String, code_check_id String, ai_label String, storno Bool, section_code String, ntin String, physical_label String, product_id String)),
    envelope_event_receipt_payments Array(Tuple(type Int32, sum Int64)),
    envelope_event_receipt_total Int64,
    envelope_event_receipt_change Int64,
    envelope_event_receipt_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_parent_device_id String,
    envelope_event_receipt_parent_shift_number UInt32,
    envelope_event_receipt_parent_document_number UInt64,
    envelope_event_receipt_parent_fiscal_sign String,
    envelope_event_receipt_parent_register_number String,
    envelope_event_receipt_discount_sum Int64,
    envelope_event_receipt_discount_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_markup_sum Int64,
    envelope_event_receipt_markup_taxes Array(Tuple(tax_type UInt32, rate_bp UInt32, sum Int64)),
    envelope_event_receipt_offline Bool,
    envelope_event_receipt_offline_number UInt32,
    envelope_signature String,
    envelope_key_id String,
    received_ms Int64,
    envelope_hash FixedString(32),
    fiscal_sign String,
    seller_tin String,
    store_id String,
    findings Array(Tuple(kind String, line Int32, detail String, cis String, other_seller_tin String, other_store_id String, facts String)),
    gateway_id String,
    code_verdicts Array(Tuple(line UInt32, code_index UInt32, cis String, verdict String, error_code String, gtin String, `group` String)),
    authentication String,
    stored_event String,
    protection String,
    stored_evidence String,
    stored_event_sha256 String
)
ENGINE = Null
;
CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.journal_receipts_to_events TO {database}.events AS
SELECT seller_tin,
    store_id,
    envelope_device_id AS device_id,
    envelope_seq AS seq,
    'receipt' AS kind,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time,
    fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at,
    envelope_hash,
    envelope_prev_hash AS prev_hash,
    envelope_signature AS signature,
    envelope_key_id AS key_id,
    stored_event AS event,
    fiscal_sign,
    gateway_id,
    protection,
    if(authentication = '', 'device_signature', authentication) AS authentication,
    stored_evidence AS evidence,
    if(protection = '', SHA256(stored_event), stored_event_sha256) AS event_sha256
FROM {database}.journal_receipts
;
CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.journal_receipts_to_receipts TO {database}.receipts AS
SELECT seller_tin,
    store_id,
    envelope_device_id AS device_id,
    envelope_seq AS seq,
    envelope_event_receipt_shift_number AS shift_number,
    envelope_event_receipt_document_number AS document_number,
    envelope_event_receipt_shift_document_number AS shift_document_number,
    transform(envelope_event_receipt_operation, [0, 1, 2, 3, 4], ['OPERATION_UNSPECIFIED', 'BUY', 'BUY_RETURN', 'SELL', 'SELL_RETURN'], concat('UNKNOWN_', toString(envelope_event_receipt_operation))) AS operation,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time,
    fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at,
    envelope_event_receipt_total AS total,
    envelope_event_receipt_change AS change,
    arraySum(p -> if(p.type = 1, p.sum, 0), envelope_event_receipt_payments) AS cash,
    arraySum(p -> if(p.type = 2, p.sum, 0), envelope_event_receipt_payments) AS card,
    arraySum(p -> if(p.type = 3, p.sum, 0), envelope_event_receipt_payments) AS credit,
    arraySum(p -> if(p.type = 4, p.sum, 0), envelope_event_receipt_payments) AS tare,
    arraySum(p -> if(p.type = 5, p.sum, 0), envelope_event_receipt_payments) AS mobile,
    if(notEmpty(envelope_event_receipt_taxes), arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_taxes),
       arraySum(l -> if(l.storno, -1, 1) * arraySum(t -> if(t.tax_type = 100, t.sum, 0), l.taxes), envelope_event_receipt_lines)
       - arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_discount_taxes) + arraySum(t -> if(t.tax_type = 100, t.sum, 0), envelope_event_receipt_markup_taxes)) AS vat,
    length(envelope_event_receipt_lines) AS line_count,
    arraySum(l -> length(l.marking_codes), envelope_event_receipt_lines) AS marked_code_count,
    envelope_event_receipt_parent_device_id AS parent_device_id,
    envelope_event_receipt_parent_shift_number AS parent_shift_number,
    envelope_event_receipt_parent_document_number AS parent_document_number,
    envelope_event_receipt_parent_fiscal_sign AS parent_fiscal_sign,
    envelope_event_receipt_cashier AS cashier,
    fiscal_sign,
    arrayMap(f -> f.kind, findings) AS findings,
    envelope_event_receipt_discount_sum AS discount,
    envelope_event_receipt_markup_sum AS markup,
    envelope_event_receipt_offline AS offline,
    envelope_event_receipt_offline_number AS offline_number,
    envelope_event_receipt_parent_register_number AS parent_register_number
FROM {database}.journal_receipts
;
CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.journal_receipts_to_receipt_lines TO {database}.receipt_lines AS
SELECT seller_tin,
    toDate(event_time) AS day,
    line.gtin AS gtin,
    store_id,
    envelope_device_id AS device_id,
    envelope_seq AS seq,
    envelope_event_receipt_shift_number AS shift_number,
    envelope_event_receipt_document_number AS document_number,
    toUInt32(line_index) AS line_no,
    transform(envelope_event_receipt_operation, [0, 1, 2, 3, 4], ['OPERATION_UNSPECIFIED', 'BUY', 'BUY_RETURN', 'SELL', 'SELL_RETURN'], concat('UNKNOWN_', toString(envelope_event_receipt_operation))) AS operation,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time,
    line.name AS name,
    line.quantity AS quantity,
    line.price AS price,
    line.discount AS discount,
    line.markup AS markup,
    line.sum AS sum,
    arraySum(t -> if(t.tax_type = 100, t.sum, 0), line.taxes) AS vat,
    arrayFirst(t -> t.tax_type = 100, line.taxes).rate_bp AS vat_rate_bp,
    line.marking_codes AS marking_codes,
    line.ai_label AS ai_label,
    if(length(line.ai_label) <= 256 AND match(line.ai_label, '^ai/1(;(by|src|tool|x-[a-z0-9-]{1,30})=[A-Za-z0-9._:/+-]{1,64})+$') AND length(arrayDistinct(extractAll(line.ai_label, ';([a-z0-9-]+)='))) = length(extractAll(line.ai_label, ';([a-z0-9-]+)=')) AND extract(line.ai_label, ';src=([^;]*)') IN ['algorithmicMedia', 'compositeSynthetic', 'compositeWithTrainedAlgorithmicMedia', 'trainedAlgorithmicMedia'], extract(line.ai_label, ';src=([^;]*)'), '') AS ai_source,
    line.storno AS storno,
    line.section_code AS section_code,
    line.ntin AS ntin,
    line.physical_label AS physical_label,
    line.product_id AS product_id,
    line.unit AS unit
FROM {database}.journal_receipts
ARRAY JOIN envelope_event_receipt_lines AS line, arrayEnumerate(envelope_event_receipt_lines) AS line_index
;
CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.journal_receipts_to_code_events TO {database}.code_events AS
SELECT verdict.cis AS cis,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time,
    fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS received_at,
    if(envelope_event_receipt_operation = 4, 'return', 'sale') AS kind,
    verdict.verdict AS verdict,
    verdict.error_code AS error_code,
    if(verdict.line BETWEEN 1 AND length(envelope_event_receipt_lines)
         AND verdict.code_index < length(envelope_event_receipt_lines[verdict.line].marking_codes),
       envelope_event_receipt_lines[verdict.line].marking_codes[verdict.code_index + 1], '') AS raw_code,
    verdict.gtin AS gtin,
    verdict.`group` AS product_group,
    seller_tin,
    store_id,
    envelope_device_id AS device_id,
    envelope_seq AS seq,
    envelope_event_receipt_document_number AS document_number,
    verdict.line AS line,
    if(verdict.line BETWEEN 1 AND length(envelope_event_receipt_lines), envelope_event_receipt_lines[verdict.line].code_check_id, '') AS check_id,
    gateway_id
FROM {database}.journal_receipts
ARRAY JOIN code_verdicts AS verdict
;
CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.journal_receipts_to_anomalies TO {database}.anomalies AS
SELECT finding.kind AS kind,
    fromUnixTimestamp64Milli(least(greatest(received_ms, 0), 4102444800000), 'UTC') AS detected_at,
    fromUnixTimestamp64Milli(least(greatest(envelope_event_time_ms, 0), 4102444800000), 'UTC') AS event_time,
    seller_tin,
    store_id,
    envelope_device_id AS device_id,
    envelope_seq AS seq,
    true AS accepted,
    finding.line AS line,
    finding.cis AS cis,
    finding.detail AS detail,
    finding.other_seller_tin AS other_seller_tin,
    finding.other_store_id AS other_store_id,
    finding.facts AS facts
FROM {database}.journal_receipts
ARRAY JOIN findings AS finding
;
