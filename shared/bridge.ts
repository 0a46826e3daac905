import { z } from 'zod';
import { ContractErrorSchema, UiEventSchema } from './contract';

/**
 * The browser harness's bridge (development and tests only): the same contract over a loopback
 * WebSocket. The page sends requests; the harness answers each by id and pushes the core's events.
 * Only the id is the frame's own: `command` and `input` go to `RoundsApp.invoke` as they came, as the
 * preload's IPC arguments do, so both doors refuse a bad name or input with the same answer
 * (test/integration/door-conformance.test.ts).
 */
export const BridgeRequestSchema = z.strictObject({ id: z.number().int().nonnegative(), command: z.unknown().optional(), input: z.unknown().optional() });
export type BridgeRequest = z.infer<typeof BridgeRequestSchema>;
export const BridgeReplySchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('result'),
    id: z.number().int(),
    result: z.union([z.strictObject({ ok: z.literal(true), value: z.unknown() }), z.strictObject({ ok: z.literal(false), error: ContractErrorSchema })]),
  }),
  z.strictObject({ type: z.literal('event'), event: UiEventSchema }),
]);
export type BridgeReply = z.infer<typeof BridgeReplySchema>;
