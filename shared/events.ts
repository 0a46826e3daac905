import { z } from 'zod';
import { DeviceAddressSchema, UserIdSchema } from './ids';

/**
 * Events the core raises for the UI. Issue by issue this union grows (new message, receipt,
 * connection state, lock); each member is one discriminated case.
 */
export const IdentityChangedEventSchema = z.strictObject({
  type: z.literal('identityChanged'),
  userId: UserIdSchema,
  address: DeviceAddressSchema,
  /** `newKey`: a known device's identity key changed; `newDevice`: a known contact has a device we had not seen. */
  change: z.enum(['newKey', 'newDevice']),
  detectedAt: z.number().int().nonnegative(),
});
export type IdentityChangedEvent = z.infer<typeof IdentityChangedEventSchema>;

export const CoreEventSchema = z.discriminatedUnion('type', [IdentityChangedEventSchema]);
export type CoreEvent = z.infer<typeof CoreEventSchema>;
