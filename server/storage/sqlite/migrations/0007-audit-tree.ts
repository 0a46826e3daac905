/**
 * The audit log's Merkle tree, kept as the log grows (C2SP tlog-tiles, shared/audit/tiles.ts) so an export
 * reads it instead of hashing the whole log again; and the logs the records belong to: a restore begins a
 * new log (a new checkpoint origin) at its first record, while the hash chain runs on through all of them.
 */
export const name = 'audit-tree';

export const up = `
-- One row per log begun after the first (the first log, from seq 1, takes its origin from the data directory).
CREATE TABLE audit_logs (
  first_seq INTEGER PRIMARY KEY,
  origin TEXT NOT NULL,
  at INTEGER NOT NULL
) STRICT;
CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs BEGIN SELECT RAISE(ABORT, 'audit logs are append-only'); END;
CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs BEGIN SELECT RAISE(ABORT, 'audit logs are append-only'); END;

-- The current log's tree: its tiles (the last of each level partial, rewritten as it fills) ...
CREATE TABLE audit_tiles (
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hashes BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;
-- ... and how far it reaches: size records from first_seq; head is the hash the next record must link to;
-- broken_at/broken_reason, the first record found not to chain (the tree takes the log as it is).
CREATE TABLE audit_tree (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  first_seq INTEGER NOT NULL,
  size INTEGER NOT NULL,
  head TEXT NOT NULL,
  broken_at INTEGER,
  broken_reason TEXT
) STRICT;
`;
