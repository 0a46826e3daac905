import { PrivateKey } from '@signalapp/libsignal-client';
import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { identitySignatureHolds } from './identitySignature';

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const flipBit = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => {
  const copy = Buffer.from(bytes);
  const bit = randomInt(copy.length * 8);
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return new Uint8Array(copy);
};
/** A device as the app makes one: its identity key as uploaded (type byte and 32 bytes) and XEdDSA signing. */
const device = () => {
  const privateKey = PrivateKey.generate();
  return { key: b64(privateKey.getPublicKey().serialize()), sign: (message: Uint8Array<ArrayBuffer>) => b64(privateKey.sign(message)) };
};

describe('identitySignatureHolds (libsignal loaded on first use)', () => {
  it('accepts what the device signed, refuses a changed statement, a changed signature and another device\'s key', async () => {
    for (let i = 0; i < 50; i++) {
      const { key, sign } = device();
      const message = new Uint8Array(randomBytes(randomInt(1, 300)));
      const signature = sign(message);
      expect(await identitySignatureHolds(key, message, signature)).toBe(true);
      expect(await identitySignatureHolds(key, flipBit(message), signature)).toBe(false);
      expect(await identitySignatureHolds(key, message, b64(flipBit(Buffer.from(signature, 'base64'))))).toBe(false);
      expect(await identitySignatureHolds(device().key, message, signature)).toBe(false);
    }
  });

  it('is false, without throwing, for malformed keys and signatures', async () => {
    const { key, sign } = device();
    const message = new Uint8Array(randomBytes(32));
    const signature = sign(message);
    const raw = Buffer.from(key, 'base64');
    const malformed: [string, string][] = [
      [b64(raw.subarray(1)), signature], // no type byte
      [b64(Buffer.concat([Buffer.from([0x06]), raw.subarray(1)])), signature], // another key type
      [key, b64(Buffer.from(signature, 'base64').subarray(0, 63))],
      [key, ''],
      ['', signature],
      ['not base64 at all', '%%%'],
    ];
    for (const [k, s] of malformed) expect(await identitySignatureHolds(k, message, s)).toBe(false);
  });
});
