/**
 * The checkpoints the relays signed (issue 15's memory), kept where every instance sees them: an export
 * made through any instance is remembered for the next, whichever instance makes it. Append-only, as the
 * audit log is.
 */
export const name = 'audit-checkpoints';

export const up = `
CREATE TABLE audit_checkpoints (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  origin TEXT NOT NULL,
  size BIGINT NOT NULL,
  root TEXT NOT NULL,
  note TEXT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX audit_checkpoints_by_origin ON audit_checkpoints (origin, size);
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION refuse_change();
`;
