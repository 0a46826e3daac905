/**
 * Who did it, in the audit bundles: admin commands name the OS account that ran them, one user's export
 * holds what was sent to them and nothing of anyone else, and a workstation's bundle is tied to the relay's
 * record of its enrollment by `rounds-audit verify --relay-bundle`.
 */
import { strFromU8, unzipSync } from 'fflate';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendLocalAudit, createDeviceAuditKey, exportLocalAudit } from '../../main/core/audit/LocalAudit';
import { InMemoryProtocolStorage } from '../../main/core/crypto/InMemoryProtocolStorage';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import { RelayClient } from '../../main/core/messaging/RelayClient';
import { ProfileDatabase } from '../../main/core/storage/ProfileDatabase';
import { DeviceAddressSchema, type DeviceAddress } from '../../shared/ids';
import { newConversationId, textPayload } from '../fixtures/protocolHarness';
import { Clinician, RelayProcess, adminCli, exportAudit, nextTotp , roundsAudit } from '../fixtures/relayProcess';
import { useTempDirs } from '../fixtures/tempDirs';

const PASSWORD = 'correct horse battery staple 7';
const WORKSTATION = "Ward 4 nurses' station";

interface Line { seq: number; type: string; actor: string; subject: string; details: Record<string, unknown> }
const records = (bundle: string): Line[] => readFileSync(join(bundle, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);


/** `user add` run as `env` says (sudo or not); returns the enrollment code. */
function addUserAs(data: string, username: string, displayName: string, env: NodeJS.ProcessEnv): string {
  const result = adminCli(['user', 'add', '--data', data, '--username', username, '--display-name', displayName, '--role', 'clinician'], { env });
  const code = /enrollment code: (\S+)/.exec(result.stdout)?.[1];
  if (result.status !== 0 || !code) throw new Error(`user add failed: ${result.stderr}`);
  return code;
}

describe('who did it: admin accounts, one user\'s export, the workstation\'s key', () => {
  const dir = useTempDirs();
  let data: string;
  let relay: RelayProcess;
  let asmith: Clinician;
  let bjones: Clinician;
  let cam: Clinician;
  /** asmith's second workstation, enrolled with its audit key (as the app enrolls), and its profile. */
  let workstation: DeviceAddress;
  let profile: ProfileDatabase;
  const sentToAsmith: string[] = [];
  const sentToCam: string[] = [];
  const login = userInfo().username;

  beforeAll(async () => {
    data = dir();
    const codes = {
      // One admin works through sudo, the other from their own login (SUDO_USER unset).
      asmith: addUserAs(data, 'asmith', 'Dr. Anna Smith', { SUDO_USER: 'jdoe' }),
      bjones: addUserAs(data, 'bjones', 'Dr. Ben Jones', { SUDO_USER: '' }),
      cam: addUserAs(data, 'cam', 'Cam Okafor', { SUDO_USER: 'jdoe' }),
    };
    relay = await RelayProcess.start(data);
    asmith = await Clinician.enroll(relay.url, 'asmith', codes.asmith, PASSWORD);
    bjones = await Clinician.enroll(relay.url, 'bjones', codes.bjones, PASSWORD);
    cam = await Clinician.enroll(relay.url, 'cam', codes.cam, PASSWORD);

    profile = new ProfileDatabase(join(dir(), 'asmith-profile.db'), randomBytes(32));
    const auditKey = createDeviceAuditKey(profile);
    const unregistered = ProtocolCore.createDevice(new InMemoryProtocolStorage(), null, { keyBundlePolicy: { batchSize: 20 } });
    const session = await new RelayClient(relay.url).login('asmith', PASSWORD, await nextTotp('asmith'), { kind: 'new', name: WORKSTATION, keys: await unregistered.keys.initialUpload(), auditKey: auditKey.publicKeyBase64 });
    workstation = DeviceAddressSchema.parse({ userId: session.userId, deviceId: session.deviceId });

    await asmith.connect();
    const conversation = newConversationId();
    for (let i = 0; i < 2; i++) sentToAsmith.push(...(await bjones.send([asmith.address.userId], textPayload(conversation, `to asmith ${i}`))));
    sentToCam.push(...(await bjones.send([cam.address.userId], textPayload(newConversationId(), 'to cam'))));
    await asmith.waitFor(2);
    await asmith.disconnect();
  });

  afterAll(async () => {
    profile?.close();
    await relay?.stop();
  });

  it('names the operating-system account behind each admin command: SUDO_USER, else the login name', () => {
    const allBundle = exportAudit(data, join(dir(), 'all'));
    const all = records(allBundle);
    // Names resolved at export, from the relay's accounts: every person and workstation.
    const directory = JSON.parse(readFileSync(join(allBundle, 'people.json'), 'utf8')) as { people: { username: string; displayName: string; role: string }[]; workstations: { userId: string; deviceId: number; name: string }[]; timeZone: string };
    expect(directory.people.map((p) => `${p.username}/${p.displayName}/${p.role}`).sort()).toEqual(['asmith/Dr. Anna Smith/clinician', 'bjones/Dr. Ben Jones/clinician', 'cam/Cam Okafor/clinician']);
    expect(directory.workstations.filter((w) => w.userId === workstation.userId).map((w) => w.name)).toEqual(['Ward 4 workstation', WORKSTATION]);
    expect(directory.timeZone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    const created = all.filter((r) => r.type === 'account.created');
    expect(created.map((r) => [r.details.username, r.actor])).toEqual([['asmith', 'admin:jdoe'], ['bjones', `admin:${login}`], ['cam', 'admin:jdoe']]);
    // The export itself is the admin's too (found in the next export).
    expect(adminCli(['user', 'unlock', '--data', data, 'cam'], { env: { SUDO_USER: 'kpatel' } }).status).toBe(0);
    const later = records(exportAudit(data, join(dir(), 'later')));
    expect(later.filter((r) => r.type === 'audit.exported')[0]?.actor).toBe(`admin:${process.env.SUDO_USER || login}`);
    expect(later.find((r) => r.type === 'account.unlocked')?.actor).toBe('admin:kpatel');
    expect(later.some((r) => r.actor === 'admin')).toBe(false);
  });

  it("holds what was sent to the user, delivered or not, and nothing of anyone else's", () => {
    const mine = records(exportAudit(data, join(dir(), 'asmith'), ['--user', 'asmith']));
    const accepted = mine.filter((r) => r.type === 'envelope.accepted');
    // Each message went to both of asmith's workstations: one envelope each, accepted from bjones.
    expect(accepted.map((r) => r.details.recipient).sort()).toEqual([...Array(2).fill(`${asmith.address.userId}.1`), ...Array(2).fill(`${workstation.userId}.${workstation.deviceId}`)].sort());
    expect(accepted.map((r) => r.subject).sort()).toEqual([...sentToAsmith].sort());
    expect(accepted.every((r) => r.actor === `${bjones.address.userId}.1`)).toBe(true);
    // Delivered to the workstation that was connected.
    expect(mine.filter((r) => r.type === 'envelope.delivered').map((r) => r.actor)).toEqual(Array(2).fill(`${asmith.address.userId}.1`));
    // Nothing that concerns only others: every record names asmith (or one of her workstations), and cam's message is not there.
    const asmithId = asmith.address.userId;
    for (const r of mine) {
      expect(sentToCam).not.toContain(r.subject);
      expect(JSON.stringify([r.actor, r.subject, r.details]).includes(asmithId) || r.details.username === 'asmith', JSON.stringify(r)).toBe(true);
    }
    expect(mine.some((r) => r.type === 'login.success' && r.subject === cam.address.userId)).toBe(false);
    // And the other way round: bjones's export holds what bjones sent asmith and cam, cam's only cam's.
    const cams = records(exportAudit(data, join(dir(), 'cam'), ['--user', 'cam']));
    expect(cams.filter((r) => r.type === 'envelope.accepted').map((r) => r.subject)).toEqual(sentToCam);
    expect(cams.some((r) => sentToAsmith.includes(r.subject))).toBe(false);
  });

  it("ties the workstation's bundle to its enrollment in the relay's log, and says when it cannot", () => {
    appendLocalAudit(profile, Date.now(), 'session.signedIn', { keyProtection: 'os' });
    const who = { username: 'asmith', displayName: 'Dr. Anna Smith', role: 'clinician', deviceName: WORKSTATION };
    const bundle = exportLocalAudit(profile, workstation, who, join(dir(), 'ws', 'asmith-ws.zip'), { from: 0, to: Date.now() + 1 }, Date.now()).path;
    const relayBundle = exportAudit(data, join(dir(), 'relay-asmith'), ['--user', 'asmith']);
    // The workstation's bundle names its user and itself.
    const own = JSON.parse(strFromU8(unzipSync(readFileSync(bundle))['people.json'] ?? new Uint8Array())) as unknown;
    expect(own).toMatchObject({ people: [{ userId: workstation.userId, username: 'asmith', displayName: 'Dr. Anna Smith', role: 'clinician' }], workstations: [{ userId: workstation.userId, deviceId: workstation.deviceId, name: WORKSTATION }] });

    const ok = roundsAudit(['verify', bundle, '--relay-bundle', relayBundle]);
    expect(ok.out).toMatch(/^VERIFIED: \d+ records of rounds\.client\//);
    const enrolled = records(relayBundle).find((r) => r.type === 'device.enrolled' && r.subject === `${workstation.userId}.${workstation.deviceId}`);
    expect(enrolled).toBeDefined();
    expect(ok.out).toContain(`the workstation's audit key matches its enrollment on`);
    expect(ok.out).toContain(`recorded in the relay's log (record ${enrolled?.seq}): the bundle was signed by workstation "${WORKSTATION}" of Dr. Anna Smith (asmith)`);
    expect(ok.status, ok.out).toBe(0);

    // The relay's key checks too, with --key (the organisation's key, for the relay bundle).
    const orgKey = join(dir(), 'org.pub.pem');
    writeFileSync(orgKey, adminCli(['audit', 'key', '--data', data, '--pem']).stdout);
    expect(roundsAudit(['verify', bundle, '--relay-bundle', relayBundle, '--key', orgKey]).status).toBe(0);

    // Another workstation's bundle claiming to be this one: signed by a key the relay never recorded for it.
    const impostor = new ProfileDatabase(join(dir(), 'impostor.db'), randomBytes(32));
    createDeviceAuditKey(impostor);
    appendLocalAudit(impostor, Date.now(), 'session.signedIn', { keyProtection: 'os' });
    const forged = exportLocalAudit(impostor, workstation, who, join(dir(), 'ws', 'forged.zip'), { from: 0, to: Date.now() + 1 }, Date.now()).path;
    impostor.close();
    const mismatch = roundsAudit(['verify', forged, '--relay-bundle', relayBundle]);
    expect(mismatch.out).toContain("NOT TIED TO THE RELAY'S LOG");
    expect(mismatch.out).toMatch(/signed by audit key [0-9a-f]{64}, but the relay recorded key [0-9a-f]{64} when workstation .* enrolled/);
    expect(mismatch.status).toBe(1);

    // A relay bundle of another user holds no enrollment of this workstation: said so, with what it covers.
    const missing = roundsAudit(['verify', bundle, '--relay-bundle', exportAudit(data, join(dir(), 'relay-cam'), ['--user', 'cam'])]);
    expect(missing.out).toMatch(/no device\.enrolled record for workstation "Ward 4 nurses' station" of Dr\. Anna Smith \(asmith\), .*\.2 \(it covers .*, only the records of Cam Okafor \(cam\)\)/);
    expect(missing.status).toBe(1);
  });

  it('notes, without failing, a workstation revoked since', () => {
    expect(adminCli(['device', 'revoke', '--data', data, 'asmith', String(workstation.deviceId)], { env: { SUDO_USER: 'jdoe' } }).status).toBe(0);
    const who = { username: 'asmith', displayName: 'Dr. Anna Smith', role: 'clinician', deviceName: WORKSTATION };
    const bundle = exportLocalAudit(profile, workstation, who, join(dir(), 'ws', 'after.zip'), { from: 0, to: Date.now() + 1 }, Date.now()).path;
    const result = roundsAudit(['verify', bundle, '--relay-bundle', exportAudit(data, join(dir(), 'relay-after'), ['--user', 'asmith'])]);
    expect(result.out).toMatch(/note: the relay revoked the workstation on .* \(record \d+, by admin:jdoe\)/);
    expect(result.status, result.out).toBe(0);
  });
});
