import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { linkWorkstationToRelay } from './workstationLink';

/** The link reads only these files; both bundles are verified (signatures, digests, proofs) before it runs. */
const encoder = new TextEncoder();
const sha256 = (data: Uint8Array) => new Uint8Array(createHash('sha256').update(data).digest());
const crypto = {
  sha256,
  rawPublicKey: (pem: string): Uint8Array | null => {
    try {
      return new Uint8Array(Buffer.from(createPublicKey(pem).export({ format: 'jwk' }).x ?? '', 'base64url'));
    } catch {
      return null;
    }
  },
};
function newKey() {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url'));
  return { pem: publicKey.export({ format: 'pem', type: 'spki' }).toString(), raw, base64: Buffer.from(raw).toString('base64') };
}

const USER = '3f2a0c1e-0000-4000-8000-000000000001';
const DEVICE = `${USER}.2`;
const DAY = Date.UTC(2026, 11, 1, 9, 30);

/** A bundle's files, read as the link reads them (events.jsonl in small chunks, as a large one would be). */
const reader = (files: Map<string, Uint8Array>) => ({
  read: (name: string) => files.get(name) ?? null,
  *chunks(name: string) {
    const bytes = files.get(name) ?? new Uint8Array();
    for (let at = 0; at < bytes.length; at += 7) yield bytes.subarray(at, at + 7);
  },
});
const workstationBundle = (pem: string, device = DEVICE) => reader(new Map([
  ['checkpoint', encoder.encode(`rounds.client/${device}\n3\nAAAA\n\n— x y\n`)],
  ['signer.pub.pem', encoder.encode(pem)],
]));
const relayFiles = (records: object[], range: object = { from: 0, to: DAY * 2, user: null }) => new Map([
  ['checkpoint', encoder.encode('rounds.relay/0123456789abcdef\n9\nAAAA\n\n— x y\n')],
  ['events.jsonl', encoder.encode(records.map((r) => `${JSON.stringify(r)}\n`).join(''))],
  ['proof.json', encoder.encode(JSON.stringify({ range }))],
]);
const relayBundle = (records: object[], range?: object) => reader(relayFiles(records, range));
const enrolled = (seq: number, subject: string, auditKey: string | null) => ({ seq, at: DAY, type: 'device.enrolled', actor: 'anonymous@10.0.0.7', subject, details: { name: 'Ward 4', auditKey }, flagged: false });

describe("a workstation bundle tied to the relay's log", () => {
  const key = newKey();
  const other = newKey();

  it('matches the key the relay recorded when the workstation enrolled', () => {
    const link = linkWorkstationToRelay(crypto, workstationBundle(key.pem), relayBundle([enrolled(1, `${USER}.1`, other.base64), enrolled(2, DEVICE, key.base64)]));
    expect(link.failures).toEqual([]);
    expect(link.ok).toBe(true);
    expect(link.enrollment).toEqual({ seq: 2, at: DAY });
    expect(link.notes[0]).toBe(`the workstation's audit key matches its enrollment on 2026-12-01 09:30:00 UTC recorded in the relay's log (record 2): the bundle was signed by workstation ${DEVICE}.`);
  });

  it('fails a workstation bundle that names another user or workstation than the relay knows for that device', () => {
    const people = (username: string, name: string, displayName = username) => encoder.encode(JSON.stringify({ people: [{ userId: USER, username, displayName, role: 'clinician' }], workstations: [{ userId: USER, deviceId: 2, name }], timeZone: 'UTC' }));
    const ws = (username: string, name: string, displayName = username) => reader(new Map([
      ['checkpoint', encoder.encode(`rounds.client/${DEVICE}\n3\nAAAA\n\n— x y\n`)],
      ['signer.pub.pem', encoder.encode(key.pem)],
      ['people.json', people(username, name, displayName)],
    ]));
    const relay = reader(new Map([...relayFiles([enrolled(2, DEVICE, key.base64)]), ['people.json', people('asmith', 'Ward 4')]]));
    expect(linkWorkstationToRelay(crypto, ws('asmith', 'Ward 4'), relay).failures).toEqual([]);
    const wrongUser = linkWorkstationToRelay(crypto, ws('bjones', 'Ward 4'), relay);
    expect(wrongUser.ok).toBe(false);
    expect(wrongUser.failures.join()).toMatch(/says its user is bjones .*relay knows .* as asmith/);
    expect(linkWorkstationToRelay(crypto, ws('asmith', 'Ward 4', 'Dr. Bob Jones'), relay).failures.join()).toMatch(/says its user is Dr\. Bob Jones \(asmith\)/);
    expect(linkWorkstationToRelay(crypto, ws('asmith', 'Theatre 2'), relay).failures.join()).toMatch(/calls the workstation "Theatre 2", but it enrolled as "Ward 4"/);
  });

  it("names the workstation and its user from the relay bundle's directory", () => {
    const files = relayFiles([enrolled(2, DEVICE, key.base64)], { from: 0, to: DAY * 2, user: USER });
    files.set('people.json', encoder.encode(JSON.stringify({ people: [{ userId: USER, username: 'asmith', displayName: 'Dr. Anna Smith', role: 'clinician' }], workstations: [{ userId: USER, deviceId: 2, name: 'Ward 4' }], timeZone: 'UTC' })));
    expect(linkWorkstationToRelay(crypto, workstationBundle(key.pem), reader(files)).notes[0]).toMatch(/signed by workstation "Ward 4" of Dr\. Anna Smith \(asmith\), 3f2a.*\.2\.$/);
    const other = workstationBundle(key.pem, `${USER}.5`);
    expect(linkWorkstationToRelay(crypto, other, reader(files)).failures[0]).toMatch(/no device\.enrolled record for workstation of Dr\. Anna Smith \(asmith\), .*\.5 \(it covers .*, only the records of Dr\. Anna Smith \(asmith\)\)/);
  });

  it('fails when the relay recorded another key for that workstation (another workstation\'s bundle, or one altered)', () => {
    const link = linkWorkstationToRelay(crypto, workstationBundle(other.pem), relayBundle([enrolled(2, DEVICE, key.base64)]));
    expect(link.ok).toBe(false);
    expect(link.failures[0]).toContain(`signed by audit key ${Buffer.from(sha256(other.raw)).toString('hex')}, but the relay recorded key ${Buffer.from(sha256(key.raw)).toString('hex')} when workstation ${DEVICE} enrolled`);
  });

  it('explains a relay bundle that holds no enrollment of the workstation (another user\'s export)', () => {
    const link = linkWorkstationToRelay(crypto, workstationBundle(key.pem), relayBundle([enrolled(1, `${USER}.21`, key.base64)], { from: 0, to: DAY, user: 'someone-else' }));
    expect(link.ok).toBe(false);
    expect(link.failures[0]).toMatch(/no device\.enrolled record for workstation .*\.2 \(it covers 1970-01-01 00:00:00 UTC to 2026-12-01 09:30:00 UTC, only the records of user someone-else\)/);
  });

  it('says why an enrollment without a key, or an emergency sign-in, cannot be tied', () => {
    expect(linkWorkstationToRelay(crypto, workstationBundle(key.pem), relayBundle([enrolled(4, DEVICE, null)])).failures[0]).toMatch(/records no audit key .* before audit keys/);
    const emergency = { seq: 5, at: DAY, type: 'emergency.used', actor: 'anonymous@10.0.0.7', subject: DEVICE, details: {}, flagged: true };
    expect(linkWorkstationToRelay(crypto, workstationBundle(key.pem), relayBundle([emergency])).failures[0]).toMatch(/emergency code .* without an audit key/);
    // One whose app sent its key with the emergency sign-in is tied like any other.
    const withKey = { ...emergency, details: { reason: 'lost laptop', auditKey: key.base64 } };
    expect(linkWorkstationToRelay(crypto, workstationBundle(key.pem), relayBundle([withKey])).notes[0]).toMatch(/matches its emergency sign-in on .* \(record 5\)/);
  });

  it('notes a later revocation, or deactivation, without failing', () => {
    const revoked = { seq: 9, at: DAY + 3600_000, type: 'device.revoked', actor: 'admin:jdoe', subject: DEVICE, details: {}, flagged: false };
    const link = linkWorkstationToRelay(crypto, workstationBundle(key.pem), relayBundle([enrolled(2, DEVICE, key.base64), revoked]));
    expect(link.ok).toBe(true);
    expect(link.notes[1]).toMatch(/revoked the workstation on 2026-12-01 10:30:00 UTC \(record 9, by admin:jdoe\)/);
    const deactivated = { ...revoked, type: 'account.deactivated', subject: USER };
    expect(linkWorkstationToRelay(crypto, workstationBundle(key.pem), relayBundle([enrolled(2, DEVICE, key.base64), deactivated])).notes[1]).toMatch(/deactivated its account/);
  });

  it('refuses bundles of the wrong kind, and garbage, with a reason', () => {
    const files = relayFiles([enrolled(2, DEVICE, key.base64)]);
    const relay = reader(files);
    expect(linkWorkstationToRelay(crypto, relay, relay).failures[0]).toMatch(/not a workstation's/);
    expect(linkWorkstationToRelay(crypto, workstationBundle(key.pem), workstationBundle(key.pem)).failures[0]).toMatch(/not a relay's bundle/);
    expect(linkWorkstationToRelay(crypto, workstationBundle('not a key'), relay).failures[0]).toMatch(/not an Ed25519 public key/);
    const garbage = reader(new Map([...files, ['events.jsonl', encoder.encode('{"type":"device.enrolled"\n\u0000\n[1]\nnull\n')]]));
    expect(linkWorkstationToRelay(crypto, workstationBundle(key.pem), garbage).ok).toBe(false);
    expect(linkWorkstationToRelay(crypto, reader(new Map()), reader(new Map())).ok).toBe(false);
  });
});
