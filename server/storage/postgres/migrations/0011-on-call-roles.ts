/**
 * Issue 19, on-call roles: roles such as "Cardiology on call" (a unique name, an optional department, the
 * IANA time zone its rota is written in, an optional backup: an account or another role), the shifts of who
 * holds each role when (instants in UTC, with where each came from: the app, a CSV or iCalendar import, the
 * command line), and the accounts an admin allowed to change schedules (the scheduler permission).
 */
export const name = 'on-call-roles';

export const up = `
CREATE TABLE oncall_roles (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  name_key TEXT NOT NULL UNIQUE,
  department TEXT,
  time_zone TEXT NOT NULL,
  backup_user_id TEXT REFERENCES users (id),
  backup_role_id TEXT REFERENCES oncall_roles (id),
  search_text TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  CHECK (backup_user_id IS NULL OR backup_role_id IS NULL)
);
CREATE TABLE oncall_shifts (
  id TEXT PRIMARY KEY,
  role_id TEXT NOT NULL REFERENCES oncall_roles (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users (id),
  starts_at BIGINT NOT NULL,
  ends_at BIGINT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('app', 'csv', 'ics', 'cli')),
  created_at BIGINT NOT NULL,
  created_by TEXT NOT NULL,
  CHECK (ends_at > starts_at)
);
CREATE INDEX oncall_shifts_by_role_time ON oncall_shifts (role_id, starts_at, ends_at);
CREATE TABLE oncall_schedulers (
  user_id TEXT PRIMARY KEY REFERENCES users (id),
  granted_at BIGINT NOT NULL,
  granted_by TEXT NOT NULL
);
`;
