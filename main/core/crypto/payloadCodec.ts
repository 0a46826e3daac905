import { z } from 'zod';
import { LIMITS } from '../../../shared/limits';
import { PAYLOAD_VERSION, PayloadSchema, type Payload } from '../../../shared/payload';
import { describeWireIssue, tolerant } from '../../../shared/wire/tolerant';
import { MalformedPayloadError, PayloadTooLargeError, UnsupportedPayloadVersionError } from '../errors';
import { jsonBytes, parseJsonBytes } from './encoding';

/**
 * Payload <-> plaintext bytes. The JSON is padded to a multiple of PAD_BLOCK bytes (0x80 then zeros, as
 * Signal does) so ciphertext length says little about message length.
 */
const PAD_BLOCK = 160;
const PAD_MARK = 0x80;

/** Validates the payload against the shared schema, so nothing every receiver would reject is ever sent. */
export function encodePayload(payload: Payload): Uint8Array<ArrayBuffer> {
  if (payload.v !== PAYLOAD_VERSION) throw new UnsupportedPayloadVersionError(payload.v);
  const checked = PayloadSchema.safeParse(payload);
  if (!checked.success) throw new MalformedPayloadError(describeWireIssue(checked.error));
  const json = jsonBytes(checked.data);
  if (json.byteLength > LIMITS.maxPayloadBytes) throw new PayloadTooLargeError(json.byteLength, LIMITS.maxPayloadBytes);
  const padded = new Uint8Array((Math.floor((json.byteLength + 1) / PAD_BLOCK) + 1) * PAD_BLOCK);
  padded.set(json);
  padded[json.byteLength] = PAD_MARK;
  return padded;
}

const VersionProbe = z.looseObject({ v: z.number().int().positive() });

/** Always returns a valid Payload or throws a typed error; never anything else, whatever the input. */
export function decodePayload(plaintext: Uint8Array): Payload {
  const limit = LIMITS.maxPayloadBytes + PAD_BLOCK;
  if (plaintext.byteLength > limit) throw new PayloadTooLargeError(plaintext.byteLength, limit);
  const json = unpad(plaintext);
  let value: unknown;
  try {
    value = parseJsonBytes(json);
  } catch {
    // No cause: a JSON SyntaxError quotes the start of the input, which is decrypted message text.
    throw new MalformedPayloadError('not UTF-8 JSON');
  }
  const probe = VersionProbe.safeParse(value);
  if (!probe.success) throw new MalformedPayloadError('no version field');
  if (probe.data.v !== PAYLOAD_VERSION) throw new UnsupportedPayloadVersionError(probe.data.v);
  // A newer workstation's payload may carry optional fields this one does not know: they are dropped and the
  // message shown; the fields it knows are checked as strictly as ever (shared/wire/tolerant.ts). Sending stays strict.
  const parsed = tolerant(PayloadSchema).safeParse(value);
  if (!parsed.success) throw new MalformedPayloadError(describeWireIssue(parsed.error));
  return parsed.data;
}

function unpad(bytes: Uint8Array): Uint8Array {
  let end = bytes.byteLength - 1;
  while (end >= 0 && bytes[end] === 0) end--;
  if (end < 0 || bytes[end] !== PAD_MARK) throw new MalformedPayloadError('bad padding');
  return bytes.subarray(0, end);
}
