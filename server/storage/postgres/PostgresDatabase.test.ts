import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresUnavailable, startPostgres, type TestPostgres } from '../../../test/fixtures/postgres';
import { POSTGRES_MIGRATIONS } from './migrations';
import { PostgresDatabase, parseDatabaseUrl } from './PostgresDatabase';
import { binaryBigintArray, binaryBooleanArray, binaryFloat8Array, binaryIntArray, binaryTextArray } from './binaryArrays';

/*
 * Issue 17: the relay's schema on PostgreSQL, its migrations (several instances may start at once), the
 * refusal of a schema that does not fit the code, and what the database itself enforces.
 */
const unavailable = postgresUnavailable();

describe('the --database URL', () => {
  it('refuses a password in the URL, another scheme, and a URL without user or database', () => {
    expect(() => parseDatabaseUrl('postgres://rounds:secret@db.hospital.example/rounds')).toThrow(/must not hold the password/);
    expect(() => parseDatabaseUrl('mysql://rounds@db/rounds')).toThrow(/must be a postgres:\/\/ URL, not mysql:\/\//);
    expect(() => parseDatabaseUrl('postgres://db.hospital.example/rounds')).toThrow(/needs a user and a database/);
    expect(() => parseDatabaseUrl('postgres://rounds@db.hospital.example/rounds?sslmode=require')).toThrow(/encrypts without checking which server answers: use sslmode=verify-full/);
    expect(() => parseDatabaseUrl('postgres://rounds@db.hospital.example/rounds?sslmode=prefer')).toThrow(/encrypts without checking/);
    expect(() => parseDatabaseUrl('postgres://rounds@db.hospital.example/rounds?sslmode=sometimes')).toThrow(/must be verify-full, verify-ca or disable/);
    expect(() => parseDatabaseUrl('postgres://rounds@db.hospital.example/rounds?sslrootcert=/etc/ca.pem')).toThrow(/no sslmode: add sslmode=verify-full/);
    expect(() => parseDatabaseUrl('postgres://rounds@db.hospital.example/rounds?application_name=x')).toThrow(/no parameter application_name/);
    expect(parseDatabaseUrl('postgres://rounds@db.hospital.example/rounds?sslmode=verify-full&sslrootcert=/etc/ca.pem').searchParams.get('sslmode')).toBe('verify-full');
    // A verifying mode verifies with a CA the operator names (any public CA, and for verify-ca any name, would do otherwise).
    expect(() => parseDatabaseUrl('postgres://rounds@db.hospital.example/rounds?sslmode=verify-ca')).toThrow(/sslmode=verify-ca needs sslrootcert=/);
    expect(() => parseDatabaseUrl('postgres://rounds@db.hospital.example/rounds?sslmode=verify-full&sslrootcert=')).toThrow(/sslmode=verify-full needs sslrootcert=/);
    expect(() => parseDatabaseUrl('postgres://rounds@db.hospital.example/rounds?sslmode=verify-ca&sslrootcert=system')).toThrow(/only allowed with sslmode=verify-full/);
    expect(parseDatabaseUrl('postgres://rounds@db.hospital.example/rounds?sslmode=verify-full&sslrootcert=system').searchParams.get('sslrootcert')).toBe('system');
    expect(() => parseDatabaseUrl('not a url')).toThrow(/is not a URL/);
    expect(parseDatabaseUrl('postgresql://rounds@db.hospital.example:5433/rounds').port).toBe('5433');
  });
});

describe.skipIf(unavailable !== null)('the relay schema on PostgreSQL', () => {
  let server: TestPostgres;
  const open = async () => PostgresDatabase.connect({ url: await server.newDatabase(), password: server.password });

  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('takes a text[] parameter in the binary format as the same strings, whatever they hold', async () => {
    const db = await open();
    try {
      const values = ['', 'é ✓ 🩺', 'a"b\\c', '{x,y}', 'NULL', ' spaced ', 'x'.repeat(300_000)];
      const rows = (await db.pool.query<{ v: string; n: number }>('SELECT v, n::int FROM unnest($1::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n', [binaryTextArray(values)])).rows;
      expect(rows.map((r) => r.v)).toEqual(values);
      expect((await db.pool.query('SELECT cardinality($1::text[]) AS n', [binaryTextArray([])])).rows[0]).toEqual({ n: 0 });
    } finally {
      await db.close();
    }
  });

  it('takes int, bigint, boolean and float8 arrays in the binary format as the same values, nulls included', async () => {
    const db = await open();
    try {
      const ints = [0, 1, -1, 2_147_483_647, -2_147_483_648, null];
      const bigints = [0, 1, -1, 2 ** 32, -(2 ** 32) - 5, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 1_764_892_800_123, null];
      const booleans = [true, false, null];
      const floats = [0, -0.5, 1e-300, Math.PI, Number.MAX_VALUE, Infinity, -Infinity, null];
      const column = async (type: string, param: Buffer) =>
        (await db.pool.query<{ v: string | null }>(`SELECT v::text FROM unnest($1::${type}[]) WITH ORDINALITY AS t(v, n) ORDER BY n`, [param])).rows.map((r) => r.v);
      expect(await column('int', binaryIntArray(ints))).toEqual(ints.map((v) => (v === null ? null : String(v))));
      expect(await column('bigint', binaryBigintArray(bigints))).toEqual(bigints.map((v) => (v === null ? null : String(v))));
      expect(await column('boolean', binaryBooleanArray(booleans))).toEqual(['true', 'false', null]);
      expect((await db.pool.query<{ v: number | null }>('SELECT v FROM unnest($1::float8[]) WITH ORDINALITY AS t(v, n) ORDER BY n', [binaryFloat8Array(floats)])).rows.map((r) => r.v)).toEqual(floats);
      expect((await db.pool.query('SELECT cardinality($1::int[]) AS n', [binaryIntArray([])])).rows[0]).toEqual({ n: 0 });
      // What the literal's parser refused is refused before anything is sent, naming the element.
      expect(() => binaryIntArray([1, 2.5])).toThrow(/element 1 \(2.5\): not an integer/);
      expect(() => binaryIntArray([2 ** 31])).toThrow(/element 0 \(2147483648\): out of the int range/);
      expect(() => binaryBigintArray([2 ** 53])).toThrow(/element 0 .*: not a safe integer/);
      // An element type other than the cast's is refused by PostgreSQL, not stored as something else.
      await expect(db.pool.query('SELECT $1::bigint[]', [binaryIntArray([1])])).rejects.toThrow(/element type 23 \(integer\) instead of expected 20 \(bigint\)/);
    } finally {
      await db.close();
    }
  });

  it('migrates a new database to the newest version, once, however many relays start at once', async () => {
    const url = await server.newDatabase();
    const relays = Array.from({ length: 3 }, () => PostgresDatabase.connect({ url, password: server.password }));
    try {
      const applied = await Promise.all(relays.map((r) => r.migrate()));
      expect(applied.flat().sort((a, b) => a - b)).toEqual(POSTGRES_MIGRATIONS.map((m) => m.version));
      expect(await relays[0]!.version()).toBe(POSTGRES_MIGRATIONS.at(-1)!.version);
      await relays[1]!.assertCurrent();
      const tables = (await relays[0]!.pool.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)).rows.map((r) => r.t);
      expect(tables).toEqual(['acknowledgements', 'audit_checkpoints', 'audit_log', 'audit_logs', 'audit_tiles', 'audit_tree', 'blob_chunks', 'blob_fetches', 'blob_readers', 'blobs', 'control_events', 'devices',
        'emergency_grants', 'enrollment_codes', 'envelopes', 'escalation_envelopes', 'escalation_rungs', 'escalations', 'login_failures', 'login_streaks', 'oncall_roles', 'oncall_schedulers', 'oncall_shifts',
        'one_time_kyber_prekeys', 'one_time_prekeys', 'pending_enrollments', 'pending_sso_sign_ins', 'presence', 'queue_shares', 'rate_buckets', 'schema_migrations',
        'scim_deleted_users', 'scim_group_members', 'scim_groups', 'scim_role_keys', 'scim_tokens', 'siem_cursor', 'users']);
      expect(await relays[2]!.migrate()).toEqual([]);
    } finally {
      await Promise.all(relays.map((r) => r.close()));
    }
  });

  it('leaves a failed migration undone, at the previous version', async () => {
    const db = await open();
    try {
      const broken = [...POSTGRES_MIGRATIONS, { version: 99, name: 'broken', up: 'CREATE TABLE half_done (a INTEGER); THIS IS NOT SQL;' }];
      await expect(db.migrate(broken)).rejects.toThrow(/syntax error/);
      expect(await db.version()).toBe(POSTGRES_MIGRATIONS.at(-1)!.version);
      expect((await db.pool.query(`SELECT to_regclass('half_done') AS t`)).rows[0]).toEqual({ t: null });
    } finally {
      await db.close();
    }
  });

  it('serve refuses a schema newer than its code, and one older, saying what to run', async () => {
    const db = await open();
    try {
      const newest = POSTGRES_MIGRATIONS.at(-1)!.version;
      await expect(db.assertCurrent()).rejects.toThrow(`the PostgreSQL schema is at version 0, this relay needs ${newest}: run rounds-server migrate with the same --database`);
      await db.migrate([...POSTGRES_MIGRATIONS, { version: 50, name: 'future', up: 'SELECT 1' }]);
      await expect(db.assertCurrent()).rejects.toThrow(`the PostgreSQL schema is at version 50, newer than this relay understands (${newest}); upgrade the relay`);
      await expect(db.migrate()).rejects.toThrow(/newer than this relay understands/);
    } finally {
      await db.close();
    }
  });

  it('keeps the audit log append-only in the database itself', async () => {
    const db = await open();
    try {
      await db.migrate();
      await db.pool.query(`INSERT INTO audit_log (seq, at, type, actor, subject, details, flagged, prev_hash, hash) VALUES (1, 1, 't', 'a', 's', '{}', false, 'p', 'h')`);
      await expect(db.pool.query(`UPDATE audit_log SET actor = 'someone else'`)).rejects.toThrow('audit_log is append-only');
      await expect(db.pool.query('DELETE FROM audit_log')).rejects.toThrow('audit_log is append-only');
      await expect(db.pool.query('TRUNCATE audit_log')).rejects.toThrow('audit_log is append-only');
      expect((await db.pool.query('SELECT count(*)::int AS n FROM audit_log')).rows[0]).toEqual({ n: 1 });
    } finally {
      await db.close();
    }
  });

  it("counts each queue's total and each sender's share as envelopes come and go", async () => {
    const db = await open();
    try {
      await db.migrate();
      const queue = (id: string, sender: string, content: string) => db.pool.query(
        `INSERT INTO envelopes (id, recipient_user, recipient_device, sender_user, sender_device, type, content, accepted_at) VALUES ($1, 'r', 1, $2, 1, 'whisper', $3, 1)`, [id, sender, content]);
      await queue('e1', 'a', 'AAAA');
      await queue('e2', 'a', 'AAAAAAAA');
      await queue('e3', 'b', 'AAAA');
      const shares = async () => (await db.pool.query('SELECT sender_user, envelopes::int, bytes::int FROM queue_shares ORDER BY sender_user')).rows;
      expect(await shares()).toEqual([{ sender_user: '', envelopes: 3, bytes: 12 }, { sender_user: 'a', envelopes: 2, bytes: 9 }, { sender_user: 'b', envelopes: 1, bytes: 3 }]);
      await db.pool.query(`DELETE FROM envelopes WHERE id = 'e3'`);
      expect(await shares()).toEqual([{ sender_user: '', envelopes: 2, bytes: 9 }, { sender_user: 'a', envelopes: 2, bytes: 9 }]);
      await db.pool.query('DELETE FROM envelopes');
      expect(await shares()).toEqual([]);
      // Envelope numbers are never given twice, even after the newest was deleted.
      await queue('e4', 'a', 'AAAA');
      expect((await db.pool.query(`SELECT seq::int FROM envelopes WHERE id = 'e4'`)).rows[0]).toEqual({ seq: 4 });
      // A group commit's one statement of many envelopes, to two queues from two senders, counted as one by one.
      await db.pool.query(`INSERT INTO envelopes (id, recipient_user, recipient_device, sender_user, sender_device, type, content, accepted_at)
        VALUES ('e6', 'r', 1, 'a', 1, 'whisper', 'AAAA', 1), ('e7', 'r', 1, 'b', 1, 'whisper', 'AAAAAAAA', 1), ('e8', 'r', 1, 'a', 1, 'whisper', 'AAAA', 1), ('e9', 'q', 2, 'a', 1, 'whisper', 'AAAA', 1)`);
      expect((await db.pool.query('SELECT user_id, device_id, sender_user, envelopes::int, bytes::int FROM queue_shares ORDER BY 1, 2, 3')).rows).toEqual([
        { user_id: 'q', device_id: 2, sender_user: '', envelopes: 1, bytes: 3 }, { user_id: 'q', device_id: 2, sender_user: 'a', envelopes: 1, bytes: 3 },
        { user_id: 'r', device_id: 1, sender_user: '', envelopes: 4, bytes: 15 }, { user_id: 'r', device_id: 1, sender_user: 'a', envelopes: 3, bytes: 9 },
        { user_id: 'r', device_id: 1, sender_user: 'b', envelopes: 1, bytes: 6 },
      ]);
      await db.pool.query(`DELETE FROM envelopes WHERE id IN ('e4', 'e6', 'e7', 'e8', 'e9')`);
      expect(await shares()).toEqual([]);
      // '' is the total's sender: no envelope may come from it.
      await expect(queue('e5', '', 'AAAA')).rejects.toThrow(/check constraint/);
    } finally {
      await db.close();
    }
  });

  it('gives groups made before sources existed to the live token that last wrote them, else the oldest live one (version 18)', async () => {
    const db = await open();
    try {
      await db.migrate(POSTGRES_MIGRATIONS.filter((m) => m.version <= 17));
      const far = Date.now() + 3600_000;
      await db.pool.query(`INSERT INTO scim_tokens (name, token_hash, created_at, revoked_at, expires_at) VALUES ('stale', 'h9', 0, NULL, 9), ('gone', 'h0', 1, 5, $1), ('entra', 'h1', 2, NULL, $1), ('okta', 'h2', 3, NULL, $1)`, [far]);
      await db.pool.query(`INSERT INTO scim_groups (id, display_name, name_key, external_id, created_at, last_modified_at) VALUES ('g1', 'ICU', 'icu', NULL, 1, 1), ('g2', 'Ward 4', 'ward 4', NULL, 1, 1), ('g3', 'Ward 5', 'ward 5', NULL, 1, 1)`);
      const audit = [[1, 'group.provisioned', 'scim:stale', 'g1'], [2, 'group.updated', 'scim:okta', 'g1'], [3, 'group.provisioned', 'scim:stale', 'g2']] as const;
      for (const [seq, type, actor, subject] of audit) {
        await db.pool.query(`INSERT INTO audit_log (seq, at, type, actor, subject, details, flagged, prev_hash, hash) VALUES ($1, 1, $2, $3, $4, '{}', FALSE, '', '')`, [seq, type, actor, subject]);
      }
      await db.migrate();
      expect((await db.pool.query('SELECT id, owner FROM scim_groups ORDER BY id')).rows).toEqual([{ id: 'g1', owner: 'okta' }, { id: 'g2', owner: 'entra' }, { id: 'g3', owner: 'entra' }]);
    } finally {
      await db.close();
    }
  });

  it('records which SCIM source deactivated each leaver, from the latest deactivation\'s audit record (version 19)', async () => {
    const db = await open();
    try {
      await db.migrate(POSTGRES_MIGRATIONS.filter((m) => m.version <= 18));
      await db.pool.query(`INSERT INTO scim_tokens (name, token_hash, created_at, expires_at, source) VALUES ('entra-2027', 'h1', 2, 9, 'entra'), ('okta', 'h2', 3, 9, 'okta')`);
      await db.pool.query(`INSERT INTO users (id, username, display_name, role, status, created_at, last_active_at, deactivated_by_source) VALUES ('u1', 'u1', 'u1', 'clinician', 'deactivated', 1, 1, 'scim'), ('u2', 'u2', 'u2', 'clinician', 'deactivated', 1, 1, 'scim')`);
      for (const [seq, actor, subject] of [[1, 'scim:okta', 'u1'], [2, 'scim:entra-2027', 'u1'], [3, 'scim:forgotten', 'u2']] as const) {
        await db.pool.query(`INSERT INTO audit_log (seq, at, type, actor, subject, details, flagged, prev_hash, hash) VALUES ($1, 1, 'account.deactivated', $2, $3, '{}', FALSE, '', '')`, [seq, actor, subject]);
      }
      await db.migrate();
      expect((await db.pool.query('SELECT id, deactivated_by_scim AS s FROM users ORDER BY id')).rows).toEqual([{ id: 'u1', s: 'entra' }, { id: 'u2', s: null }]);
    } finally {
      await db.close();
    }
  });
});
