/**
 * Issue 16, random pairs among 10,000 devices: every envelope's insert checks, in its commit, that the recipient
 * device is still active (not revoked, its account active). Through the primary keys that reads the device's row
 * and its account's, one page each (a device's row holds its keys, a few KB): among thousands of recipients those
 * pages are seldom in SQLite's cache, so each check read and decrypted one or two pages from the disk. These
 * indexes answer the check alone (covering it), and all of them stay in the cache: ~60 bytes a device.
 */
export const name = 'envelope-recipient-checks';

export const up = `
CREATE INDEX devices_revocation ON devices (user_id, device_id, revoked_at);
CREATE INDEX users_status ON users (id, status);
`;
