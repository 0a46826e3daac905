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

  /** The relay answered with a refusal of its own, rather than no answer (it may have acted) or one this version cannot read. */
  get refused(): boolean {
    return this.code !== 'UNREACHABLE' && this.code !== 'BAD_RESPONSE';
  }
}

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
