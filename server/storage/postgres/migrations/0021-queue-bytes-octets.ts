/**
 * The queue counters count an envelope's bytes from the length of its content in octets, not in characters
 * (`octet_length`, not `length`). The content is base64 (the wire schema refuses anything else), so the two
 * are equal, and both are what the relay counts (ciphertextBytes: its length x 3 / 4). But `length` counts
 * the characters of UTF-8 text one by one, about 3 µs for a message's 1.3 KB, and each message paid it three
 * times (the insert trigger, the delete trigger, the acknowledgement's RETURNING): some 8 µs of PostgreSQL's
 * ~50 a message at saturation. `octet_length` reads the stored size. Same triggers, same statements
 * otherwise (migrations 0004 and 0020).
 */
import { deleteRowsFunction } from './0004-queue-delete-statement';
import { insertRowsFunction } from './0020-queue-insert-statement';

export const name = 'queue-bytes-octets';

export const up = `
${insertRowsFunction('CREATE OR REPLACE', 'octet_length')}
${deleteRowsFunction('CREATE OR REPLACE', 'octet_length')}`;
