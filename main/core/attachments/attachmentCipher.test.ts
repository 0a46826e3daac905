import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HEADER_BYTES, SEGMENT_BYTES, cipherSize, decryptRange, decryptSegments, encryptAttachment, encryptSegments, largestPlain, newAttachmentKey, plainSize, segmentSpan, verifyAttachment } from './attachmentCipher';

const digestOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('base64');
const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return 'accepted';
};

describe('attachment encryption (AES-256-GCM in STREAM segments)', () => {
  const key = newAttachmentKey();
  const file = randomBytes(3 * SEGMENT_BYTES + 1234);
  const { ciphertext, digest } = encryptAttachment(key, file);
  const read = (c: Uint8Array) => (s: number, e: number) => c.subarray(s, e);

  it('round-trips, and reads any range by decrypting only the segments it lies in', () => {
    expect(ciphertext.length).toBe(cipherSize(file.length));
    expect(plainSize(ciphertext.length)).toBe(file.length);
    verifyAttachment(key, digest, ciphertext);
    expect(decryptRange(key, read(ciphertext), ciphertext.length, 0, file.length).equals(file)).toBe(true);
    const at = SEGMENT_BYTES - 10;
    expect(decryptRange(key, read(ciphertext), ciphertext.length, at, 100).equals(file.subarray(at, at + 100))).toBe(true);
    // The same file twice is two different blobs: a fresh key and nonce prefix each time.
    expect(encryptAttachment(newAttachmentKey(), file).ciphertext.equals(ciphertext)).toBe(false);
  });

  it('refuses a changed byte, a moved segment and a cut-off end, even with the digest made to match', () => {
    const flipped = Buffer.from(ciphertext);
    flipped[HEADER_BYTES + 5]! ^= 1;
    expect(refusal(() => verifyAttachment(key, digest, flipped))).toBe('ATTACHMENT_TAMPERED');
    expect(refusal(() => verifyAttachment(key, digestOf(flipped), flipped))).toBe('ATTACHMENT_TAMPERED');
    expect(refusal(() => decryptRange(key, read(flipped), flipped.length, 0, 10))).toBe('ATTACHMENT_TAMPERED');

    const s0 = segmentSpan(0, ciphertext.length);
    const s1 = segmentSpan(1, ciphertext.length);
    const swapped = Buffer.concat([ciphertext.subarray(0, HEADER_BYTES), ciphertext.subarray(s1.start, s1.end), ciphertext.subarray(s0.start, s0.end), ciphertext.subarray(s1.end)]);
    expect(refusal(() => verifyAttachment(key, digestOf(swapped), swapped))).toBe('ATTACHMENT_TAMPERED');

    // Whole segments dropped from the end: the new last one was not encrypted as the last.
    const cut = ciphertext.subarray(0, segmentSpan(2, ciphertext.length).end);
    expect(refusal(() => verifyAttachment(key, digestOf(cut), cut))).toBe('ATTACHMENT_TAMPERED');
    expect(refusal(() => verifyAttachment(newAttachmentKey(), digest, ciphertext))).toBe('ATTACHMENT_TAMPERED');
  });

  it('decrypts segment by segment as the file is consumed: never more than one segment ahead', () => {
    let furthest = 0;
    const reader = (s: number, e: number) => {
      furthest = Math.max(furthest, e);
      return ciphertext.subarray(s, e);
    };
    const segments = decryptSegments(key, reader, ciphertext.length);
    const first = segments.next();
    expect(first.value?.equals(file.subarray(0, SEGMENT_BYTES))).toBe(true);
    expect(furthest).toBe(segmentSpan(0, ciphertext.length).end);
    expect(Buffer.concat([first.value as Buffer, ...segments]).equals(file)).toBe(true);
  });

  it('encrypts segment by segment as the upload asks: a file of gigabytes is read one segment ahead at most', () => {
    // A 4 GiB file, never in memory: its bytes are made as they are read.
    const size = 4 * 1024 ** 3;
    let furthest = 0;
    const source = (s: number, e: number) => {
      furthest = Math.max(furthest, e);
      return Buffer.alloc(e - s, 7);
    };
    const encryption = encryptSegments(key, source, size);
    const pieces = encryption.pieces[Symbol.iterator]();
    expect(pieces.next().value?.length).toBe(HEADER_BYTES);
    expect(furthest).toBe(0);
    for (let i = 0; i < 3; i++) expect(pieces.next().value?.length).toBe(SEGMENT_BYTES + 16);
    expect(furthest).toBe(3 * SEGMENT_BYTES);
    expect(refusal(() => encryption.digest())).toBe('INTERNAL');
  });

  it('makes, piece by piece, a blob that verifies under its digest', () => {
    const encryption = encryptSegments(key, read(file), file.length);
    const blob = Buffer.concat([...encryption.pieces]);
    expect(blob.length).toBe(cipherSize(file.length));
    verifyAttachment(key, encryption.digest(), blob);
    expect(decryptRange(key, read(blob), blob.length, 0, file.length).equals(file)).toBe(true);
  });

  it('knows the largest file a blob cap takes', () => {
    for (const cap of [HEADER_BYTES + 16, 1000, SEGMENT_BYTES + HEADER_BYTES + 16, 3 * (SEGMENT_BYTES + 16) + HEADER_BYTES + 5, 128 * 1024 * 1024]) {
      expect(cipherSize(largestPlain(cap))).toBeLessThanOrEqual(cap);
      expect(cipherSize(largestPlain(cap) + 1)).toBeGreaterThan(cap);
    }
  });
});
