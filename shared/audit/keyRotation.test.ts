import { createHash, createPublicKey, generateKeyPairSync, hash, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AuditCrypto, AuditSigner } from './bundle';
import { keyFingerprint, readKeyRotation, rotationPath, signKeyRotation, type KeyRotation } from './keyRotation';

const ORIGIN = 'rounds.relay/0123456789abcdef';
const nodeAuditCrypto: AuditCrypto = {
  sha256: (data) => hash('sha256', data, 'buffer'),
  sha256Stream: () => createHash('sha256'),
  verify: (pem, data, signature) => verify(null, data, createPublicKey(pem), signature),
  rawPublicKey: (pem) => Buffer.from(createPublicKey(pem).export({ format: 'jwk' }).x ?? '', 'base64url'),
};
const key = (): AuditSigner & { fingerprint: string } => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicKeyPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  return { publicKeyPem, fingerprint: keyFingerprint(nodeAuditCrypto.sha256, nodeAuditCrypto.rawPublicKey(publicKeyPem)!), sign: (data) => sign(null, data, privateKey) };
};

describe('signed audit key rotations', () => {
  it('names the log, both keys with their fingerprints and the time, signed by the outgoing key', () => {
    const [a, b] = [key(), key()];
    const signed = signKeyRotation(nodeAuditCrypto, { origin: ORIGIN, at: Date.UTC(2026, 10, 1, 12), retired: a, current: b });
    expect(signed.statement).toBe(`rounds-audit-key-rotation/1\norigin: ${ORIGIN}\ntime: 2026-11-01T12:00:00.000Z\nold-key: ${a.fingerprint} ${Buffer.from(nodeAuditCrypto.rawPublicKey(a.publicKeyPem)!).toString('base64')}\nnew-key: ${b.fingerprint} ${Buffer.from(nodeAuditCrypto.rawPublicKey(b.publicKeyPem)!).toString('base64')}\n`);
    expect(readKeyRotation(nodeAuditCrypto, signed, ORIGIN)).toEqual({ ok: true, rotation: { origin: ORIGIN, time: '2026-11-01T12:00:00.000Z', oldFingerprint: a.fingerprint, newFingerprint: b.fingerprint } });
  });

  it('refuses a statement signed by the new key, edited, or made for another log', () => {
    const [a, b, mallory] = [key(), key(), key()];
    // Mallory claims the organisation's key handed over to hers, signing with her own key.
    const forged = signKeyRotation(nodeAuditCrypto, { origin: ORIGIN, at: 0, retired: { publicKeyPem: a.publicKeyPem, sign: mallory.sign }, current: mallory });
    expect(readKeyRotation(nodeAuditCrypto, forged, ORIGIN)).toEqual({ ok: false, reason: `is not signed by the key it retires (${a.fingerprint})` });
    const real = signKeyRotation(nodeAuditCrypto, { origin: ORIGIN, at: 0, retired: a, current: b });
    const swapped = { ...real, statement: real.statement.replace(/new-key: .*\n/, `new-key: ${mallory.fingerprint} ${Buffer.from(nodeAuditCrypto.rawPublicKey(mallory.publicKeyPem)!).toString('base64')}\n`) };
    expect(readKeyRotation(nodeAuditCrypto, swapped, ORIGIN)).toMatchObject({ ok: false, reason: expect.stringMatching(/not signed by the key it retires/) });
    expect(readKeyRotation(nodeAuditCrypto, { ...real, statement: real.statement.replace(b.fingerprint, a.fingerprint) }, ORIGIN)).toEqual({ ok: false, reason: 'names a fingerprint that is not its key\'s' });
    expect(readKeyRotation(nodeAuditCrypto, real, 'rounds.relay/another')).toEqual({ ok: false, reason: `is for another log (${ORIGIN})` });
    expect(readKeyRotation(nodeAuditCrypto, { statement: 'hello' }, ORIGIN)).toEqual({ ok: false, reason: 'is not a statement with its signature' });
  });

  it('follows rotations from an old key to a new one, only forwards', () => {
    const r = (oldFingerprint: string, newFingerprint: string): KeyRotation => ({ origin: ORIGIN, time: '2026-11-01T12:00:00.000Z', oldFingerprint, newFingerprint });
    // a -> b -> c, and a restore of a's backup replaced a with d.
    const rotations = [r('a', 'b'), r('b', 'c'), r('a', 'd')];
    expect(rotationPath(rotations, 'a', 'c')).toEqual([r('a', 'b'), r('b', 'c')]);
    expect(rotationPath(rotations, 'a', 'd')).toEqual([r('a', 'd')]);
    expect(rotationPath(rotations, 'c', 'a')).toBeNull();
    expect(rotationPath(rotations, 'b', 'd')).toBeNull();
    expect(rotationPath(rotations, 'c', 'c')).toEqual([]);
  });
});
