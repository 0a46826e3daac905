import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { digestIs } from '../../shared/audit/bundleLayout';
import { nodeAuditCrypto } from './auditCrypto';

describe('checking a line against its leaf without a digest buffer', () => {
  const line = Buffer.from('\u0000{"seq":1,"type":"login.success","actor":"é"}');
  const leaf = createHash('sha256').update(line).digest();

  it('holds for the right leaf and fails for any other, as comparing whole digests does', () => {
    expect(nodeAuditCrypto.sha256Equals?.(line, leaf)).toBe(true);
    for (const byte of [0, 17, 31]) {
      const other = Uint8Array.from(leaf);
      other[byte] = (other[byte] ?? 0) ^ 0x80;
      expect(nodeAuditCrypto.sha256Equals?.(line, other)).toBe(false);
    }
    expect(nodeAuditCrypto.sha256Equals?.(line, leaf.subarray(0, 31))).toBe(false);
    expect(nodeAuditCrypto.sha256Equals?.(line, new Uint8Array(0))).toBe(false);
    expect(nodeAuditCrypto.sha256Equals?.(line, Buffer.concat([leaf, Buffer.from([0])]))).toBe(false);
  });

  it('falls back to the digest itself where the platform has no such check', () => {
    const { sha256Equals: _none, ...plain } = nodeAuditCrypto;
    expect(digestIs(plain, line, leaf)).toBe(true);
    const other = Uint8Array.from(leaf);
    other[5] = (other[5] ?? 0) ^ 1;
    expect(digestIs(plain, line, other)).toBe(false);
  });
});
