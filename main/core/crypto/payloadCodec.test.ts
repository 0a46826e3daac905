import { describe, expect, it } from 'vitest';
import { MessageIdSchema, type DistributionId } from '../../../shared/ids';
import type { Payload } from '../../../shared/payload';
import { newConversationId, textPayload } from '../../../test/fixtures/protocolHarness';
import { MalformedPayloadError, UnsupportedPayloadVersionError } from '../errors';
import { jsonBytes } from './encoding';
import { decodePayload, encodePayload } from './payloadCodec';

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

/** Padded as encodePayload pads, without its checks: what another (newer, or hostile) workstation could send. */
function pad(value: unknown): Uint8Array {
  const json = jsonBytes(value);
  const out = new Uint8Array(json.byteLength + 160 - (json.byteLength % 160));
  out.set(json);
  out[json.byteLength] = 0x80;
  return out;
}

describe('payload codec', () => {
  const conversationId = newConversationId();
  const samples: Payload[] = [
    { ...textPayload(conversationId, 'Mr. X in bed 12: NPO after midnight'), replyTo: MessageIdSchema.parse(crypto.randomUUID()), urgent: true },
    { v: 1, type: 'receipt', receipt: 'read', conversationId, messageIds: [MessageIdSchema.parse(crypto.randomUUID())], sentAt: 5 },
    { v: 1, type: 'senderKeyDistribution', conversationId, distributionId: crypto.randomUUID() as DistributionId, message: 'AAAA', sentAt: 5 },
  ];

  it.each(samples)('round-trips a $type payload, padded to a multiple of 160 bytes', (payload) => {
    const bytes = encodePayload(payload);
    expect(bytes.byteLength % 160).toBe(0);
    expect(decodePayload(bytes)).toEqual(payload);
  });

  it('hides the exact length: short texts of different lengths encode to the same size', () => {
    const sizes = ['ok', 'okay, on my way'].map((t) => encodePayload(textPayload(conversationId, t)).byteLength);
    expect(sizes[0]).toBe(sizes[1]);
  });

  it('refuses empty text, a wrong type and a future version with typed errors; never sends an unknown field', () => {
    const base = textPayload(conversationId, 'x');
    expect(() => encodePayload({ ...base, extra: 1 } as never)).toThrow(MalformedPayloadError);
    expect(() => decodePayload(pad({ ...base, urgent: 'yes' }))).toThrow(/urgent: invalid_type \(expected boolean\)/);
    expect(() => decodePayload(pad({ ...base, text: '' }))).toThrow(MalformedPayloadError);
    expect(() => decodePayload(pad({ ...base, v: 7 }))).toThrow(UnsupportedPayloadVersionError);
    expect(() => encodePayload({ ...base, text: '' })).toThrow(MalformedPayloadError);
    expect(() => encodePayload({ ...base, text: 'x'.repeat(32_001) })).toThrow(MalformedPayloadError);
    expect(() => encodePayload({ ...base, v: 2 } as never)).toThrow(UnsupportedPayloadVersionError);
    // The error names the field, never the value (which could be patient details).
    const error = catchError(() => decodePayload(pad({ ...base, conversationId: 'Jane Doe, MRN 12345' })));
    expect(error).toBeInstanceOf(MalformedPayloadError);
    expect((error as Error).message).toContain('conversationId');
    expect((error as Error).message).not.toContain('Jane');
  });

  it('shows a newer workstation\'s message: fields it does not know are dropped, known ones read as sent', () => {
    const base = { ...textPayload(conversationId, 'Bed 4 needs review'), urgent: true };
    expect(decodePayload(pad({ ...base, priority: 'stat', urgent: true, attachments2: [{ kind: 'video' }] }))).toEqual(base);
  });
});
