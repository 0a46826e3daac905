import { describe, expect, it } from 'vitest';
import { RELAY_ERROR_CODES } from '../../../shared/wire/relay';
import { RelayRequestError } from './RelayRequestError';

/*
 * Which failed sends took nothing (OutboxSender then takes back the sender key's sharing the attempt recorded): only
 * refusals server/MessageService.ts throws before it stores anything. Everything else, INTERNAL and RELAY_UNAVAILABLE
 * after a COMMIT whose outcome was lost among them, may have been stored, and the key must count as given (review M1).
 */
const BEFORE_STORING = ['BAD_REQUEST', 'PAYLOAD_TOO_LARGE', 'SEND_RATE_LIMITED', 'UNKNOWN_DEVICE', 'RECIPIENT_QUEUE_FULL'];

describe('a failed send: stored or not', () => {
  it('counts only the refusals made before storing as nothing stored', () => {
    for (const code of BEFORE_STORING) expect(new RelayRequestError(code as RelayRequestError['code'], 'refused', 400).nothingStored, code).toBe(true);
  });

  it('counts every other answer, and no answer, as possibly stored', () => {
    const others = [...RELAY_ERROR_CODES, 'UNREACHABLE', 'BAD_RESPONSE'].filter((code) => !BEFORE_STORING.includes(code));
    for (const code of ['INTERNAL', 'RELAY_UNAVAILABLE', 'RELAY_STORAGE_FULL', 'UNREACHABLE', 'BAD_RESPONSE']) expect(others).toContain(code);
    for (const code of others) expect(new RelayRequestError(code as RelayRequestError['code'], 'failed', 500).nothingStored, code).toBe(false);
  });
});
