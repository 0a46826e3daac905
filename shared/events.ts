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
  detectedAt: z.number().int().nonnegative(),
});
export type IdentityChangedEvent = z.infer<typeof IdentityChangedEventSchema>;

export const CoreEventSchema = z.discriminatedUnion('type', [IdentityChangedEventSchema]);
export type CoreEvent = z.infer<typeof CoreEventSchema>;
