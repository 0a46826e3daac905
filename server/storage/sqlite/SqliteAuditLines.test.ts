import { afterEach, describe, expect, it } from 'vitest';
import { openRelayDatabase, removeDir, tempDataDir } from '../../../test/fixtures/relayProcess';
import { recordLine } from '../../audit/AuditTree';
import { openStore } from '../../openStore';

/*
 * Issue 15 (a year in seconds): a whole-log export reads each record's events.jsonl line as the database puts
 * it together. It must be byte for byte the line the relay makes from the record (its leaf in the tree),
 * whatever the record holds; a record whose details the database cannot render comes as its seq alone.
 */
describe('audit lines made by the database', () => {
  let dir = '';
  afterEach(() => removeDir(dir));

  it('are the relay\'s own lines, byte for byte, for awkward text; nested details are read whole', async () => {
    dir = tempDataDir();
    const store = openStore(dir);
    const awkward = ['quo"te', 'back\\slash', 'nl\nx\ttab\r\b\f', '\u0001\u001f\u007f', 'é ü 中文 😀', '\u2028\u2029', '</script>', "apos'", '\u0000z', ''];
    await store.appendAudit([
      ...awkward.map((text, i) => ({ type: 'login.failure' as const, actor: text, subject: `${text}-subject`, details: { zeta: text, alpha: i, mid: i % 2 === 0, big: 2 ** 53 - 1, small: -0.5 }, flagged: i % 3 === 0 })),
      // Details are flat by type; a record of another version may nest them.
      { type: 'audit.log_restored' as const, actor: 'admin:ops', subject: '', details: { backup: { file: 'b.tar', at: 5 }, lost: [1, 2] } as never },
      { type: 'envelope.accepted' as const, actor: 'u.1', subject: 'e', details: {} },
    ]);
    const records = await store.auditRecordsAfter(0, 100);
    const lines = await store.auditLinesAfter(0, 100);
    expect(lines).toHaveLength(records.length);
    for (const [i, record] of records.entries()) {
      const nested = record.type === 'audit.log_restored';
      expect({ seq: record.seq, entry: lines[i] }).toEqual({ seq: record.seq, entry: nested ? String(record.seq) : `${record.seq} ${recordLine(record)}` });
    }
    // A page: after a seq, up to a seq, within a time range.
    expect(await store.auditLinesAfter(3, 2, { untilSeq: 4 })).toEqual([`4 ${recordLine(records[3]!)}`]);
    expect(await store.auditLinesAfter(0, 100, { from: 0, to: 1 })).toEqual([]);
    await store.close();
  });

  it('names a record whose stored details are not JSON (changed outside the relay) instead of failing with a bare SyntaxError', async () => {
    dir = tempDataDir();
    const store = openStore(dir);
    await store.appendAudit([{ type: 'login.failure', actor: 'a', subject: 's', details: { note: 'x' } }]);
    await store.close();
    const raw = openRelayDatabase(dir);
    raw.exec(`DROP TRIGGER audit_log_no_update; UPDATE audit_log SET details = '{"note":' WHERE seq = 1`);
    raw.close();
    const reopened = openStore(dir);
    await expect(reopened.auditRecordsAfter(0, 10)).rejects.toThrow('audit record 1 cannot be read: its stored details are not JSON (the database was changed outside the relay)');
    await reopened.close();
  });

  it('keeps the hash chain of a record whose actor has a lone surrogate (stored as U+FFFD, hashed as stored)', async () => {
    dir = tempDataDir();
    const store = openStore(dir);
    await store.appendAudit([{ type: 'login.failure', actor: 'bad\uD800actor', subject: '\uDC00', details: { note: 'lone \uD800 in details' } }]);
    const [record] = await store.auditRecordsAfter(0, 1);
    expect(record?.actor).toBe('bad\uFFFDactor');
    expect((await store.checkAuditChain()).ok).toBe(true);
    expect(await store.auditLinesAfter(0, 1)).toEqual([`1 ${recordLine(record!)}`]);
    await store.close();
  });
});
