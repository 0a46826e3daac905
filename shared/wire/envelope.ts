import { z } from 'zod';
import { DeviceAddressSchema, EnvelopeIdSchema } from '../ids';
import { LIMITS } from '../limits';

/**
 * Ciphertext kinds: `prekey` starts a 1:1 session (PreKeySignalMessage), `whisper` continues one
 * (SignalMessage), `senderkey` is a care-team message (SenderKeyMessage).
 */
export const EnvelopeTypeSchema = z.enum(['prekey', 'whisper', 'senderkey']);
export type EnvelopeType = z.infer<typeof EnvelopeTypeSchema>;

/** One ciphertext for one recipient device. The relay routes it and never sees what is inside. */
export const EnvelopeSchema = z.strictObject({
  id: EnvelopeIdSchema,
  type: EnvelopeTypeSchema,
  sender: DeviceAddressSchema,
  recipient: DeviceAddressSchema,
  content: z.base64().min(4).max(LIMITS.maxEnvelopeContentChars),
  /** Set by the relay when it accepted the envelope (milliseconds); absent on the way in. */
  serverTimestamp: z.number().int().nonnegative().optional(),
});
export type Envelope = z.infer<typeof EnvelopeSchema>;
