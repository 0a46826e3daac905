import { z } from 'zod';
import type { DeviceAddress } from '../../../shared/ids';
import { RelayErrorSchema, type RelayErrorCode } from '../../../shared/wire/relay';
import { tolerant } from '../../../shared/wire/tolerant';

/** The relay refused a request, or answered something that does not match the shared schemas. */
export class RelayRequestError extends Error {
  constructor(
    readonly code: RelayErrorCode | 'UNREACHABLE' | 'BAD_RESPONSE',
    message: string,
    readonly status: number,
    readonly details: { issues?: string[]; retryAfterSeconds?: number; retryAfterMs?: number; devices?: DeviceAddress[]; share?: 'sender' } = {},
  ) {
    super(message);
    this.name = 'RelayRequestError';
  }

  /**
   * A send the relay refused before it stored any of it (NOTHING_STORED). Any other answer, or none, leaves the outcome
   * unknown: the relay may have committed the envelopes before failing (INTERNAL, RELAY_UNAVAILABLE when a COMMIT's
   * outcome was lost, RELAY_STORAGE_FULL from the store itself), so whatever the send gave away counts as given.
   */
  get nothingStored(): boolean {
    return NOTHING_STORED.has(this.code);
  }
}

/**
 * Refusals of a send that server/MessageService.ts throws before store.enqueue: the size and request checks, the rate
 * charge, the device check (UNKNOWN_DEVICE); and a whole-send RECIPIENT_QUEUE_FULL, thrown only when the store queued
 * none of the envelopes. An allow-list on purpose (security): a code added later counts as "may have been stored"
 * until someone checks the relay and adds it here, since taking a sender key's sharing back when the relay did store
 * it would let a removed member keep reading (CareTeamCipher's stale check cannot see devices it was never told of).
 * Trust placed in the relay, here and in one more place: OutboxSender also believes the per-envelope
 * RECIPIENT_QUEUE_FULL refusals of a send the relay answered, and no longer records the devices refused so as holding
 * our sender key (the next send keeps the key and gives it to them again). A relay that lies there could deliver the
 * key while saying it did not; were that device's owner removed later, the key would not be rotated for it. That is
 * the same power this list gives a lying relay, no more (and the relay already names every device in the directory).
 */
const NOTHING_STORED: ReadonlySet<RelayRequestError['code']> = new Set(['BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'SEND_RATE_LIMITED', 'UNKNOWN_DEVICE', 'RECIPIENT_QUEUE_FULL']);

/** A relay error body whatever its code: a newer relay's code this version does not know still has a status and a wait. */
const AnyCodeErrorSchema = tolerant(RelayErrorSchema.extend({ code: z.string().min(1).max(100) }));

/**
 * The relay's error body, read as a newer relay may write it: its code when this version knows it, else BAD_RESPONSE
 * with the relay's message and code in the message, and the rest (Retry-After, devices) kept either way, so a client
 * older than its relay still waits as long as it is told. undefined: the body is no relay error (a proxy's page).
 */
export function relayErrorBody(body: unknown): { code: RelayRequestError['code']; data: z.infer<typeof AnyCodeErrorSchema> } | undefined {
  const known = tolerant(RelayErrorSchema).safeParse(body);
  if (known.success) return { code: known.data.code, data: known.data };
  const newer = AnyCodeErrorSchema.safeParse(body);
  if (!newer.success) return undefined;
  return { code: 'BAD_RESPONSE', data: { ...newer.data, message: `the relay answered ${newer.data.code}, which this version does not know: ${newer.data.message}` } };
}
