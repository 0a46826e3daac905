/**
 * Issue 19, presence and coverage: each user's current status as their own devices set it (no row: Available),
 * an optional organisational note, an optional end time (after which it reads as Available again), and for
 * Off shift / Do not disturb an optional forward-to (a colleague's user id, or a role's id). One row per user.
 */
export const name = 'presence';

export const up = `
CREATE TABLE presence (
  user_id TEXT PRIMARY KEY REFERENCES users (id),
  status TEXT NOT NULL,
  note TEXT,
  until BIGINT,
  forward_user TEXT REFERENCES users (id),
  forward_role TEXT,
  set_at BIGINT NOT NULL,
  set_by_device INTEGER NOT NULL
);
`;
