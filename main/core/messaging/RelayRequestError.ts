import type { DeviceAddress } from '../../../shared/ids';
import type { RelayErrorCode } from '../../../shared/wire/relay';

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
}
