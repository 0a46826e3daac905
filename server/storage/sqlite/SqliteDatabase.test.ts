import Database from '@signalapp/sqlcipher';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openRelayDatabase, removeDir, tempDataDir } from '../../../test/fixtures/relayProcess';
import { MIGRATIONS } from './migrations';
import { openStore } from '../../openStore';
import { ENVELOPE_INSERT } from './SqliteEnvelopeQueue';
import { SqliteDatabase } from './SqliteDatabase';

describe('relay schema migrations', () => {
  let dir = '';
  afterEach(() => removeDir(dir));

  it('creates a new database at the newest version, in WAL mode', () => {
    dir = tempDataDir();
    const db = new SqliteDatabase(join(dir, 'relay.db'));
    expect(db.version()).toBe(MIGRATIONS.at(-1)!.version);
    expect(db.db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('keeps its page cache at 4 MiB, not SQLCipher\'s 16 MiB, however large the log grows', () => {
    dir = tempDataDir();
    const db = new SqliteDatabase(join(dir, 'relay.db'));
    expect(db.db.pragma('cache_size', { simple: true })).toBe(-4000);
    const plain = new Database(join(dir, 'plain.db'));
    expect(plain.pragma('cache_size', { simple: true })).toBe(-16000);
    plain.close();
    db.close();
  });

  it('finds the sign-in failures older than a day by index, not by scanning every failure', () => {
    dir = tempDataDir();
    const db = new SqliteDatabase(join(dir, 'relay.db'));
    const plan = db.all<{ detail: string }>('EXPLAIN QUERY PLAN DELETE FROM login_failures WHERE at < $old', { old: 1 }).map((r) => r.detail).join(' | ');
    expect(plan).toMatch(/USING (COVERING )?INDEX login_failures_by_time/);
    db.close();
  });

  it('finds an export\'s landmarks and the log\'s time span by index, not by reading the whole audit log', async () => {
    dir = tempDataDir();
    const store = openStore(dir);
    await store.appendAudit([
      { type: 'envelope.accepted', actor: 'u.1', subject: 'e1', details: {} },
      { type: 'audit.exported', actor: 'admin', subject: '', details: { treeSize: 1 } },
      { type: 'envelope.accepted', actor: 'u.1', subject: 'e2', details: {} },
      { type: 'audit.key_rotated', actor: 'admin', subject: '', details: {} },
    ]);
    const found = async (types: string[]) => (await store.auditRecordsAfter(0, 10, { types })).map((r) => r.type);
    expect(await found(['audit.key_rotated', 'audit.exported'])).toEqual(['audit.exported', 'audit.key_rotated']);
    expect(await found(['audit.key_rotated'])).toEqual(['audit.key_rotated']);
    expect(await found(['envelope.accepted'])).toEqual(['envelope.accepted', 'envelope.accepted']);
    const all = await store.auditRecordsAfter(0, 10);
    expect(await store.auditTimeSpan()).toEqual({ earliest: Math.min(...all.map((r) => r.at)), latest: Math.max(...all.map((r) => r.at)) });
    await store.close();
    const db = openRelayDatabase(dir);
    const plan = (sql: string) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join(' | ');
    expect(plan(`SELECT * FROM audit_log WHERE seq > 0 AND type IN ('audit.key_rotated', 'audit.exported') AND type IN ('audit.key_rotated', 'audit.exported', 'audit.log_restored') ORDER BY seq LIMIT 10`)).toMatch(/USING INDEX audit_log_landmarks/);
    // Each of min and max one look-up (min and max in one SELECT would read the whole index).
    const span = plan('SELECT (SELECT min(at) FROM audit_log) AS earliest, (SELECT max(at) FROM audit_log) AS latest');
    expect(span).toMatch(/SEARCH audit_log USING COVERING INDEX audit_log_by_time/);
    expect(span).not.toMatch(/SCAN audit_log/);
    db.close();
  });

  it('migrates an existing database forward with its data intact, once', () => {
    dir = tempDataDir();
    const path = join(dir, 'relay.db');
    const v1 = new SqliteDatabase(path, MIGRATIONS.slice(0, 1));
    v1.run(`INSERT INTO users (id, username, display_name, role, status, created_at, last_active_at) VALUES ('u1', 'alice', 'Alice', 'clinician', 'active', 1, 1)`);
    v1.close();
    const next = [...MIGRATIONS, { version: MIGRATIONS.at(-1)!.version + 1, name: 'test-add-column', up: `ALTER TABLE users ADD COLUMN pager TEXT; UPDATE users SET pager = 'none';` }];
    const v2 = new SqliteDatabase(path, next);
    expect(v2.version()).toBe(next.at(-1)!.version);
    expect(v2.get<{ username: string; pager: string }>(`SELECT username, pager FROM users WHERE id = 'u1'`)).toEqual({ username: 'alice', pager: 'none' });
    v2.close();
    // Opening again applies nothing twice.
    const again = new SqliteDatabase(path, next);
    expect(again.all('SELECT version FROM schema_migrations')).toHaveLength(next.length);
    again.close();
  });

  it('carries the queue counts of envelopes already queued into the one shares table, with each total (versions 9, 10)', () => {
    dir = tempDataDir();
    const path = join(dir, 'relay.db');
    const v8 = new SqliteDatabase(path, MIGRATIONS.filter((m) => m.version <= 8));
    const queue = (id: string, sender: string, content: string) => v8.run(
      `INSERT INTO envelopes (id, recipient_user, recipient_device, sender_user, sender_device, type, content, accepted_at) VALUES ($id, 'r', 1, $s, 1, 'whisper', $c, 1)`,
      { id, s: sender, c: content },
    );
    queue('e1', 'a', 'AAAA');
    queue('e2', 'a', 'AAAAAAAA');
    queue('e3', 'b', 'AAAA');
    v8.close();
    const v10 = new SqliteDatabase(path);
    expect(v10.all('SELECT name FROM sqlite_master WHERE name = $n', { n: 'queue_usage' })).toEqual([]);
    // Each sender's share, and the queue's total (sender '').
    const shares = () => v10.all('SELECT sender_user, envelopes, bytes FROM queue_shares ORDER BY sender_user');
    expect(shares()).toEqual([{ sender_user: '', envelopes: 3, bytes: 12 }, { sender_user: 'a', envelopes: 2, bytes: 9 }, { sender_user: 'b', envelopes: 1, bytes: 3 }]);
    // The triggers keep counting after the move, and drop a share (and a total) that reaches zero.
    v10.run(`DELETE FROM envelopes WHERE id = 'e3'`);
    v10.run(`INSERT INTO envelopes (id, recipient_user, recipient_device, sender_user, sender_device, type, content, accepted_at) VALUES ('e4', 'r', 1, 'a', 1, 'whisper', 'AAAA', 2)`);
    expect(shares()).toEqual([{ sender_user: '', envelopes: 3, bytes: 12 }, { sender_user: 'a', envelopes: 3, bytes: 12 }]);
    v10.run(`DELETE FROM envelopes`);
    expect(shares()).toEqual([]);
    v10.close();
  });

  it('gives SCIM tokens made before expiry existed an end at least 30 days away, and keeps every shift (version 19)', () => {
    dir = tempDataDir();
    const path = join(dir, 'relay.db');
    const v17 = new SqliteDatabase(path, MIGRATIONS.filter((m) => m.version <= 17));
    const now = Date.now();
    const DAY = 24 * 3600_000;
    v17.run(`INSERT INTO scim_tokens (name, token_hash, created_at) VALUES ('old', 'h1', $a), ('recent', 'h2', $b)`, { a: now - 400 * DAY, b: now - 10 * DAY });
    v17.run(`INSERT INTO users (id, username, display_name, role, status, created_at, last_active_at) VALUES ('u1', 'lee', 'Dr Lee', 'clinician', 'active', 1, 1)`);
    v17.run(`INSERT INTO oncall_roles (id, name, name_key, time_zone, search_text, created_at, updated_at) VALUES ('r1', 'On call', 'on call', 'Europe/London', 'on call', 1, 1)`);
    v17.run(`INSERT INTO oncall_shifts (id, role_id, user_id, starts_at, ends_at, source, created_at, created_by) VALUES ('s1', 'r1', 'u1', 10, 20, 'csv', 1, 'admin:ops')`);
    v17.close();
    const v20 = new SqliteDatabase(path);
    const tokens = v20.all<{ name: string; expires_at: number }>('SELECT name, expires_at FROM scim_tokens ORDER BY name');
    expect(tokens[0]?.expires_at).toBeGreaterThanOrEqual(now + 30 * DAY - 60_000);
    expect(tokens[0]?.expires_at).toBeLessThan(now + 31 * DAY);
    expect(tokens[1]).toEqual({ name: 'recent', expires_at: now - 10 * DAY + 365 * DAY });
    expect(v20.all('SELECT id, source, starts_at, ends_at FROM oncall_shifts')).toEqual([{ id: 's1', source: 'csv', starts_at: 10, ends_at: 20 }]);
    v20.run(`INSERT INTO oncall_shifts (id, role_id, user_id, starts_at, ends_at, source, created_at, created_by) VALUES ('s2', 'r1', 'u1', 10, 8640000000000000, 'scim', 1, 'scim:entra')`);
    expect(() => v20.run(`INSERT INTO oncall_shifts (id, role_id, user_id, starts_at, ends_at, source, created_at, created_by) VALUES ('s3', 'r1', 'u1', 10, 20, 'fax', 1, 'x')`)).toThrow(/CHECK/);
    v20.close();
  });

  it('gives groups made before sources existed to the live token that last wrote them, else the oldest live one, and each token its own name as source (version 21)', () => {
    dir = tempDataDir();
    const path = join(dir, 'relay.db');
    const v19 = new SqliteDatabase(path, MIGRATIONS.filter((m) => m.version <= 19));
    const far = Date.now() + 3600_000;
    // 'stale' expired without being revoked; 'gone' was revoked; 'entra' and 'okta' are live.
    v19.run(`INSERT INTO scim_tokens (name, token_hash, created_at, revoked_at, expires_at) VALUES ('stale', 'h9', 0, NULL, 9), ('gone', 'h0', 1, 5, $far), ('entra', 'h1', 2, NULL, $far), ('okta', 'h2', 3, NULL, $far)`, { far });
    v19.run(`INSERT INTO scim_groups (id, display_name, name_key, external_id, created_at, last_modified_at) VALUES
      ('g1', 'ICU', 'icu', NULL, 1, 1), ('g2', 'Ward 4', 'ward 4', NULL, 1, 1), ('g3', 'Ward 5', 'ward 5', NULL, 1, 1), ('g4', 'Ward 6', 'ward 6', NULL, 1, 1)`);
    const audit = (seq: number, type: string, actor: string, subject: string) => v19.run(`INSERT INTO audit_log (seq, at, type, actor, subject, details, flagged, prev_hash, hash) VALUES ($seq, 1, $type, $actor, $subject, '{}', 0, '', '')`, { seq, type, actor, subject });
    audit(1, 'group.provisioned', 'scim:stale', 'g1');
    audit(2, 'group.updated', 'scim:okta', 'g1');
    audit(3, 'group.provisioned', 'scim:stale', 'g2');
    audit(4, 'group.provisioned', 'scim:okta', 'g3');
    audit(5, 'group.updated', 'scim:gone', 'g3');
    v19.close();
    const v21 = new SqliteDatabase(path);
    expect(v21.all('SELECT name, source FROM scim_tokens ORDER BY name')).toEqual([{ name: 'entra', source: 'entra' }, { name: 'gone', source: 'gone' }, { name: 'okta', source: 'okta' }, { name: 'stale', source: 'stale' }]);
    // g1: last written by okta (live). g2: by the expired token, so the oldest live one. g3: by a revoked one, the same. g4: no record.
    expect(v21.all('SELECT id, owner FROM scim_groups ORDER BY id')).toEqual([{ id: 'g1', owner: 'okta' }, { id: 'g2', owner: 'entra' }, { id: 'g3', owner: 'entra' }, { id: 'g4', owner: 'entra' }]);
    v21.close();
  });

  it("checks an envelope's recipient from indexes alone, not the device's and account's rows (version 24)", () => {
    dir = tempDataDir();
    const db = new SqliteDatabase(join(dir, 'relay.db'));
    const plan = db.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${ENVELOPE_INSERT}`, { id: 'e', ru: 'u', rd: 1, su: 's', sd: 1, type: 'whisper', content: 'AAAA', at: 1 }).map((row) => row.detail);
    expect(plan).toEqual(expect.arrayContaining([expect.stringContaining('USING COVERING INDEX devices_revocation'), expect.stringContaining('USING COVERING INDEX users_status')]));
    db.close();
  });

  it('records which SCIM source deactivated each leaver, from the latest deactivation\'s audit record (version 23)', () => {
    dir = tempDataDir();
    const path = join(dir, 'relay.db');
    const v22 = new SqliteDatabase(path, MIGRATIONS.filter((m) => m.version <= 22));
    v22.run(`INSERT INTO scim_tokens (name, token_hash, created_at, expires_at, source) VALUES ('entra-2027', 'h1', 2, 9, 'entra'), ('okta', 'h2', 3, 9, 'okta')`);
    const user = (id: string, by: string | null) => v22.run(`INSERT INTO users (id, username, display_name, role, status, created_at, last_active_at, deactivated_by_source) VALUES ($id, $id, $id, 'clinician', 'deactivated', 1, 1, $by)`, { id, by });
    user('u1', 'scim');
    user('u2', 'scim');
    user('u3', 'ldap');
    user('u4', 'scim');
    const audit = (seq: number, actor: string, subject: string) => v22.run(`INSERT INTO audit_log (seq, at, type, actor, subject, details, flagged, prev_hash, hash) VALUES ($seq, 1, 'account.deactivated', $actor, $subject, '{}', 0, '', '')`, { seq, actor, subject });
    audit(1, 'scim:okta', 'u1');
    audit(2, 'scim:entra-2027', 'u1');
    audit(3, 'scim:okta', 'u2');
    audit(4, 'ldap:run-1', 'u3');
    audit(5, 'scim:forgotten', 'u4');
    v22.close();
    const v23 = new SqliteDatabase(path);
    expect(v23.all('SELECT id, deactivated_by_scim AS s FROM users ORDER BY id')).toEqual([{ id: 'u1', s: 'entra' }, { id: 'u2', s: 'okta' }, { id: 'u3', s: null }, { id: 'u4', s: null }]);
    v23.close();
  });

  it('a failed migration leaves the database at the previous version', () => {
    dir = tempDataDir();
    const path = join(dir, 'relay.db');
    new SqliteDatabase(path).close();
    const broken = [...MIGRATIONS, { version: 99, name: 'broken', up: `ALTER TABLE users ADD COLUMN x TEXT; THIS IS NOT SQL;` }];
    expect(() => new SqliteDatabase(path, broken)).toThrow();
    const raw = new Database(path);
    expect(raw.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({ v: MIGRATIONS.at(-1)!.version });
    expect(raw.prepare(`SELECT count(*) AS n FROM pragma_table_info('users') WHERE name = 'x'`).get()).toEqual({ n: 0 });
    raw.close();
  });

  it('fails a write that finds the storage full with RELAY_STORAGE_FULL, and stays usable for writes that fit', () => {
    dir = tempDataDir();
    const db = new SqliteDatabase(join(dir, 'relay.db'));
    // SQLite answers SQLITE_FULL when the file may not grow: as on a full disk, without filling one.
    const pages = db.get<{ page_count: number }>('PRAGMA page_count')!.page_count;
    db.db.pragma(`max_page_count = ${pages + 4}`);
    const big = 'x'.repeat(64 * 1024);
    expect(() => db.immediate(() => {
      for (let i = 0; i < 20; i++) db.run(`INSERT INTO login_failures (scope, at) VALUES ($s, $at)`, { s: big, at: i });
    })).toThrow(expect.objectContaining({ code: 'RELAY_STORAGE_FULL', extra: { retryAfterSeconds: 60, retryAfterMs: 60_000 } }));
    expect(db.get<{ n: number }>('SELECT count(*) AS n FROM login_failures')).toEqual({ n: 0 });
    db.immediate(() => db.run(`INSERT INTO login_failures (scope, at) VALUES ('small', 1)`));
    expect(db.get<{ n: number }>('SELECT count(*) AS n FROM login_failures')).toEqual({ n: 1 });
    db.close();
  });

  it('fails a single write outside a transaction that finds the storage full with RELAY_STORAGE_FULL, not a raw SQLite error', () => {
    dir = tempDataDir();
    const db = new SqliteDatabase(join(dir, 'relay.db'));
    const pages = db.get<{ page_count: number }>('PRAGMA page_count')!.page_count;
    db.db.pragma(`max_page_count = ${pages + 4}`);
    // As claiming a TOTP step does: one UPDATE, no explicit transaction.
    expect(() => db.run(`INSERT INTO login_failures (scope, at) VALUES ($s, 1)`, { s: 'x'.repeat(256 * 1024) }))
      .toThrow(expect.objectContaining({ code: 'RELAY_STORAGE_FULL', extra: { retryAfterSeconds: 60, retryAfterMs: 60_000 } }));
    expect(db.run(`INSERT INTO login_failures (scope, at) VALUES ('small', 1)`)).toBe(1);
    db.close();
  });

  it('refuses a database written by a newer relay, saying so', () => {
    dir = tempDataDir();
    const path = join(dir, 'relay.db');
    new SqliteDatabase(path, [...MIGRATIONS, { version: 50, name: 'future', up: 'SELECT 1;' }]).close();
    expect(() => new SqliteDatabase(path)).toThrow(/newer than this relay understands/);
  });
});
