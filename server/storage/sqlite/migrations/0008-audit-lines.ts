/**
 * An export writes each audit record's line (events.jsonl, the record's leaf in the log's tree). Where a
 * record's stored details are already the line's (flat, keys sorted: what the relay now stores), the
 * database can put the line together itself, which spares the export parsing and re-serialising a year of
 * records; details_line says which records those are (records stored before stay 0 and are read as before).
 */
export const name = 'audit-lines';

export const up = `
ALTER TABLE audit_log ADD COLUMN details_line INTEGER NOT NULL DEFAULT 0;
`;
