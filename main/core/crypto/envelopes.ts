import { randomUUID } from 'node:crypto';
import { EnvelopeIdSchema, type DeviceAddress } from '../../../shared/ids';
import type { Envelope } from '../../../shared/wire/envelope';
import type { OutgoingCiphertext } from './DirectCipher';
import { toBase64 } from './encoding';

/** Puts one ciphertext in the wire envelope the relay routes (a fresh id per envelope). */
export function sealEnvelope(sender: DeviceAddress, out: OutgoingCiphertext): Envelope {
  return {
    id: EnvelopeIdSchema.parse(randomUUID()),
    type: out.type,
    sender,
    recipient: out.recipient,
    content: toBase64(out.content),
  };
}
