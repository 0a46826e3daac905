import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readKeyRotation, type SignedKeyRotation } from '../../shared/audit/keyRotation';
import { nodeAuditCrypto } from './auditCrypto';
import { AUDIT_KEY_FILE, RETIRED_KEYS_DIR, existingLogOrigin, finishInterruptedRotation, loadOrCreateAuditKey, lockAuditKey, newAuditKeyFile, restoredLogId, rotateAuditKey, writeLogId } from './auditKey';

const dirs: string[] = [];
const dataDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'rounds-key-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('audit key rotation, cut off at each step', () => {

  it('finishes a rotation the log announced but that never took over', async () => {
    const dir = dataDir();
    const before = loadOrCreateAuditKey(dir);
    const next = newAuditKeyFile(join(dir, `${AUDIT_KEY_FILE}.new`), before.origin);
    // The log says "rotated to next"; the process died before the rename.
    expect(await finishInterruptedRotation(dir, async () => next.fingerprint)).toBe(`finished the interrupted rotation to audit key ${next.fingerprint}`);
    const after = loadOrCreateAuditKey(dir);
    expect(after.fingerprint).toBe(next.fingerprint);
    expect(after.origin).toBe(before.origin);
    expect(readFileSync(join(dir, RETIRED_KEYS_DIR, `${before.fingerprint}.pub.pem`), 'utf8')).toBe(before.publicKeyPem);
    expect(existsSync(join(dir, `${AUDIT_KEY_FILE}.new`))).toBe(false);
    expect(await finishInterruptedRotation(dir, async () => null)).toBeNull();
  });

  it('leaves a rotation that is running alone: its new key is not "interrupted"', async () => {
    const dir = dataDir();
    const before = loadOrCreateAuditKey(dir);
    newAuditKeyFile(join(dir, `${AUDIT_KEY_FILE}.new`), before.origin);
    const running = lockAuditKey(dir);
    try {
      expect(await finishInterruptedRotation(dir, async () => null)).toBeNull();
      expect(existsSync(join(dir, `${AUDIT_KEY_FILE}.new`))).toBe(true);
    } finally {
      running?.release();
    }
    expect(await finishInterruptedRotation(dir, async () => null)).toBe('dropped a new audit key that an interrupted rotation never announced');
  });

  it('keeps the current key when announcing fails, and leaves nothing behind', async () => {
    const dir = dataDir();
    const before = loadOrCreateAuditKey(dir);
    await expect(rotateAuditKey(dir, async () => {
      throw new Error('SQLITE_BUSY: the log could not be written');
    }, async () => null)).rejects.toThrow(/SQLITE_BUSY/);
    expect(loadOrCreateAuditKey(dir).fingerprint).toBe(before.fingerprint);
    expect(existsSync(join(dir, `${AUDIT_KEY_FILE}.new`))).toBe(false);
    // Nor is the live key filed as retired.
    expect(existsSync(join(dir, RETIRED_KEYS_DIR, `${before.fingerprint}.pub.pem`))).toBe(false);
  });

  it('runs one rotation at a time', async () => {
    const dir = dataDir();
    loadOrCreateAuditKey(dir);
    let inner: Promise<unknown> | undefined;
    await rotateAuditKey(dir, async () => {
      inner = rotateAuditKey(dir, async () => undefined, async () => null);
      await expect(inner).rejects.toThrow(/another audit key rotation \(or a restore\) is running/);
    }, async () => null);
    expect(inner).toBeDefined();
  });

  it('has the outgoing key sign the rotation while it still exists, before it is announced and destroyed', async () => {
    const dir = dataDir();
    const before = loadOrCreateAuditKey(dir);
    let announced: SignedKeyRotation | undefined;
    const { current, rotation } = await rotateAuditKey(dir, async (retired, _next, statement) => {
      expect(loadOrCreateAuditKey(dir).fingerprint).toBe(retired.fingerprint);
      announced = statement;
    }, async () => null, () => Date.UTC(2026, 10, 1, 12));
    expect(announced).toEqual(rotation);
    expect(readKeyRotation(nodeAuditCrypto, rotation, before.origin)).toEqual({ ok: true, rotation: { origin: before.origin, time: '2026-11-01T12:00:00.000Z', oldFingerprint: before.fingerprint, newFingerprint: current.fingerprint } });
    expect(loadOrCreateAuditKey(dir).fingerprint).toBe(current.fingerprint);
  });

  it('says what is wrong with a key file that is not a key', () => {
    const dir = dataDir();
    writeFileSync(join(dir, AUDIT_KEY_FILE), 'not a key');
    expect(() => loadOrCreateAuditKey(dir)).toThrow(/is not a readable PEM private key/);
  });
});

describe('the log a restore starts', () => {

  it('gets a new id each time, named after the relay\'s first log, within the log id rule', () => {
    const first = 'rounds.relay/0123456789abcdef';
    const ids = new Set([restoredLogId(first), restoredLogId(first), restoredLogId(`${first}-r00000000`)]);
    expect(ids.size).toBe(3);
    for (const id of ids) expect(id).toMatch(/^0123456789abcdef-r[0-9a-f]{8}$/);
    expect(restoredLogId(`rounds.relay/${'a'.repeat(64)}`)).toMatch(/^a{40}-r[0-9a-f]{8}$/);
    const dir = dataDir();
    expect(() => writeLogId(dir, 'Not An Id')).toThrow(/not a log id/);
  });

  it('reads the origin a directory holds without making anything', () => {
    const dir = dataDir();
    expect(existingLogOrigin(dir)).toBeNull();
    const key = loadOrCreateAuditKey(dir);
    rmSync(join(dir, 'audit-log-id'));
    // A relay from before the log id file: the origin its first key gives.
    expect(existingLogOrigin(dir)).toBe(key.origin);
    expect(existsSync(join(dir, 'audit-log-id'))).toBe(false);
    expect(writeLogId(dir, '0123456789abcdef-r1a2b3c4d')).toBe('rounds.relay/0123456789abcdef-r1a2b3c4d');
    expect(existingLogOrigin(dir)).toBe('rounds.relay/0123456789abcdef-r1a2b3c4d');
    expect(loadOrCreateAuditKey(dir).origin).toBe('rounds.relay/0123456789abcdef-r1a2b3c4d');
  });
});
