import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttachmentView } from '../../shared/attachmentContract';
import type { UiEvent } from '../../shared/contract';
import type { MessageId, UserId } from '../../shared/ids';
import { DEFAULT_POLICY, type OrgPolicy } from '../../shared/policy';
import type { RoleId } from '../../shared/wire/roles';
import { RelayBlobs } from '../../main/core/attachments/RelayBlobs';
import { RelayRequestError } from '../../main/core/messaging/RelayClient';
import { jpegWithExif, pngWithText } from '../fixtures/attachmentFiles';
import { Clinician, openRelayDatabase } from '../fixtures/relayProcess';
import { Ward } from '../fixtures/ward';
import { PASSWORD, Workstation, stageFile, until } from '../fixtures/workstation';

/*
 * Attachments with every kind of send (issues 19 and 20), through a real relay process and the UI contract: an
 * urgent photo 1:1 with an escalation ladder (the rung's recipient opens the photo once the relay releases the rung;
 * someone not on the message cannot fetch it), an urgent photo to an on-call role acknowledged by its holder, a photo
 * to a colleague whose presence forwards (the covering colleague's copy opens too), and a restart between the upload
 * and the release, with a hand-over in between: the message still goes urgent, with its reason, to whoever holds
 * the role when it goes.
 */
const HOUR = 3600_000;
const REASON = 'Deteriorating patient';

describe('attachments with every kind of send', () => {
  let ward: Ward;
  let alice: Workstation;
  let bob: Workstation;
  let carol: Workstation;
  let dave: Workstation;
  /** Erin is on none of these messages: her device's credential tries to fetch their blobs. */
  let erin: Clinician;
  const ids: Record<string, UserId> = {};
  let cardiology: RoleId;
  // Escalation after 3 s by default (short for the test), as the policy's first time.
  const policy: OrgPolicy = { ...DEFAULT_POLICY, escalationMinutes: [0.05, 0.1] };

  const stage = stageFile;

  /** A message as `w` shows it, in whichever conversation it was filed. */
  async function find(w: Workstation, messageId: MessageId) {
    for (const c of await w.call('conversations.list', {})) {
      const m = (await w.call('messages.page', { conversationId: c.id, limit: 50 })).find((x) => x.id === messageId);
      if (m) return m;
    }
    return undefined;
  }

  /** The first message whose body is `body` at `w`, once its attachments are stored. */
  async function arrived(w: Workstation, body: string) {
    let found: Awaited<ReturnType<typeof find>>;
    await until(async () => {
      for (const c of await w.call('conversations.list', {})) {
        found = (await w.call('messages.page', { conversationId: c.id, limit: 50 })).find((x) => x.body === body && x.attachments.length > 0 && x.attachments.every((a) => a.state === 'stored'));
        if (found) return true;
      }
      return false;
    }, `"${body}" with its attachments`, 30_000);
    return found!;
  }

  async function readAll(w: Workstation, messageId: MessageId, a: AttachmentView): Promise<Buffer> {
    const chunk = await w.call('attachments.read', { messageId, attachmentId: a.id, variant: 'original', offset: 0, length: a.size });
    return Buffer.from(chunk.data, 'base64');
  }

  /** The relay's latest blob from `owner`, and the accounts it names as readers. */
  function latestBlob(owner: UserId): { id: string; readers: string[] } {
    const db = openRelayDatabase(ward.relayDir);
    try {
      const { id } = db.prepare('SELECT id FROM blobs WHERE owner_user = ? ORDER BY created_at DESC LIMIT 1').get([owner]) as { id: string };
      const readers = (db.prepare('SELECT user_id FROM blob_readers WHERE blob_id = ? ORDER BY user_id').all([id]) as { user_id: string }[]).map((r) => r.user_id);
      return { id, readers };
    } finally {
      db.close();
    }
  }

  /** Erin's attempt to fetch a blob: the relay's error code. */
  async function erinFetches(blobId: string): Promise<string> {
    const error = await new RelayBlobs(erin.relay).read(blobId, 0, 1).then(() => 'fetched', (e: unknown) => e);
    return error instanceof RelayRequestError ? error.code : String(error);
  }

  beforeAll(async () => {
    ward = await Ward.open({ alice: 'Dr. Alice Moreau', bob: 'Dr. Bob Lee', carol: 'Dr. Carol Patel', dave: 'Dave Ortiz' }, {
      station: { policy },
      accountsOnly: { erin: 'Erin Walsh' },
      prepare: (cli) => {
        cli('role', 'create', 'Cardiology on call', '--time-zone', 'Europe/London', '--backup-user', 'carol');
        cli('role', 'assign', 'Cardiology on call', 'bob', '--from', new Date(Date.now() - HOUR).toISOString(), '--to', new Date(Date.now() + 8 * HOUR).toISOString());
        cli('user', 'scheduler', 'dave');
      },
    });
    ({ alice, bob, carol, dave } = ward.stations as Record<'alice' | 'bob' | 'carol' | 'dave', Workstation>);
    erin = await Clinician.enroll(ward.relay.url, 'erin', ward.codes.erin!, PASSWORD);
    Object.assign(ids, ward.ids);
    cardiology = (await alice.call('roles.search', { query: 'cardio' }))[0]!.id;
  }, 120_000);

  afterAll(async () => {
    await ward?.close();
  });

  it('sends an urgent photo 1:1 with a ladder: the rung\'s recipient opens it once released, nobody else can fetch it', async () => {
    const { conversationId } = await alice.call('conversations.openDirect', { userId: ids.bob! });
    const photo = jpegWithExif('ladder');
    const staged = await stage(alice, photo, 'wound.jpg');
    const { messageId } = await alice.call('messages.send', {
      conversationId, text: 'Wound dehiscence bed 3', urgent: true, urgentReason: REASON, attachments: [staged.stagingId],
      escalation: [{ afterMinutes: 0.05, to: [ids.carol!] }],
    });
    const atBob = await arrived(bob, 'Wound dehiscence bed 3');
    expect(atBob).toMatchObject({ id: messageId, urgent: true, urgency: expect.objectContaining({ reason: REASON, canAcknowledge: true }) });
    const bobsBytes = await readAll(bob, messageId, atBob.attachments[0]!);
    // The blob is for the recipient and the rung's recipient, no one else.
    const blob = latestBlob(ids.alice!);
    expect(blob.readers).toEqual([ids.bob, ids.carol].sort());
    expect(await erinFetches(blob.id)).toBe('NOT_FOUND');

    // Bob does not acknowledge: after 3 s the relay releases the rung, and Carol's copy carries the photo.
    const atCarol = await arrived(carol, 'Wound dehiscence bed 3');
    expect(atCarol.urgency).toMatchObject({ reason: REASON, escalatedToMe: { step: 1, waitedFor: [expect.objectContaining({ userId: ids.bob })] } });
    expect((await readAll(carol, atCarol.id, atCarol.attachments[0]!)).equals(bobsBytes)).toBe(true);
    // Carol acknowledges; Alice sees it.
    await carol.call('messages.acknowledge', { messageId: atCarol.id });
    await until(async () => ((await find(alice, messageId))?.urgency?.acknowledgements ?? []).some((a) => a.userId === ids.carol), 'Carol\'s acknowledgement at Alice');
    expect(await find(dave, messageId)).toBeUndefined();
  }, 60_000);

  it('an urgent photo acknowledged before its rung: the rung\'s recipient stops being a reader, and nobody is waited for but Bob', async () => {
    const { conversationId } = await alice.call('conversations.openDirect', { userId: ids.bob! });
    const staged = await stage(alice, jpegWithExif('acknowledged in time'), 'drain.jpg');
    const { messageId } = await alice.call('messages.send', {
      conversationId, text: 'Drain output 400 ml', urgent: true, urgentReason: REASON, attachments: [staged.stagingId],
      escalation: [{ afterMinutes: 10, to: [ids.carol!] }],
    });
    await arrived(bob, 'Drain output 400 ml');
    const blob = latestBlob(ids.alice!);
    // Until the ladder stops, Carol may fetch it: her rung may yet go.
    expect(blob.readers).toEqual([ids.bob, ids.carol].sort());
    await bob.call('messages.acknowledge', { messageId });
    await until(() => latestBlob(ids.alice!).readers.length === 1, 'the rung-only reader removed');
    expect(latestBlob(ids.alice!)).toEqual({ id: blob.id, readers: [ids.bob] });
    const db = openRelayDatabase(ward.relayDir);
    try {
      // No device of Carol's is waited for: the blob goes by the usual rule once Bob's devices fetched it.
      expect(db.prepare('SELECT count(*) AS n FROM blob_fetches WHERE blob_id = ? AND user_id = ?').get([blob.id, ids.carol!])).toEqual({ n: 0 });
      expect(db.prepare('SELECT count(*) AS n FROM blob_fetches WHERE blob_id = ? AND fetched_at IS NULL AND user_id <> ?').get([blob.id, ids.alice!])).toEqual({ n: 0 });
      const removed = db.prepare(`SELECT details FROM audit_log WHERE type = 'blob.readersRemoved' AND subject = ?`).all([blob.id]) as { details: string }[];
      expect(removed.map((r) => JSON.parse(r.details))).toEqual([{ readers: 1, message: messageId }]);
    } finally {
      db.close();
    }
    expect(await find(carol, messageId)).toBeUndefined();
  }, 60_000);

  it('sends an urgent photo to an on-call role: the holder gets it, opens it and acknowledges it', async () => {
    const { conversationId } = await alice.call('roles.open', { roleId: cardiology });
    const staged = await stage(alice, pngWithText('role'), 'ecg.png');
    const { messageId } = await alice.call('messages.send', { conversationId, text: 'ECG: new ST elevation', urgent: true, urgentReason: REASON, attachments: [staged.stagingId] });
    const atBob = await arrived(bob, 'ECG: new ST elevation');
    expect(atBob).toMatchObject({ id: messageId, urgency: expect.objectContaining({ reason: REASON }), roleDelivery: expect.objectContaining({ roleName: 'Cardiology on call', holders: [expect.objectContaining({ userId: ids.bob })] }) });
    expect((await readAll(bob, messageId, atBob.attachments[0]!)).subarray(1, 4).toString('latin1')).toBe('PNG');
    // The holder, asked of the relay when it went, and the role's backup (the policy's default ladder) may fetch it.
    const blob = latestBlob(ids.alice!);
    expect(blob.readers).toEqual([ids.bob, ids.carol].sort());
    expect(await erinFetches(blob.id)).toBe('NOT_FOUND');
    await bob.call('messages.acknowledge', { messageId });
    await until(async () => ((await find(alice, messageId))?.urgency?.acknowledgements ?? []).some((a) => a.userId === ids.bob), 'Bob\'s acknowledgement at Alice');
    const sent = await find(alice, messageId);
    expect(sent?.urgency?.ladder?.acknowledged).toMatchObject({ userId: ids.bob });
  }, 60_000);

  it('sends a photo to an off-shift colleague, and the colleague covering opens their copy', async () => {
    await bob.call('presence.set', { status: 'offShift', until: Date.now() + 2 * HOUR, forwardTo: { kind: 'user', userId: ids.dave! } });
    // Alice's conversation header shows it (her last read of Bob's status, moments ago for the first test, is replaced).
    expect((await alice.call('presence.get', { userIds: [ids.bob!] })).find((p) => p.userId === ids.bob)).toMatchObject({ status: 'offShift' });
    const { conversationId } = await alice.call('conversations.openDirect', { userId: ids.bob! });
    const staged = await stage(alice, pngWithText('coverage'), 'rash.png');
    const { messageId } = await alice.call('messages.send', { conversationId, text: 'Rash after the antibiotic', attachments: [staged.stagingId] });
    await until(async () => (await find(alice, messageId))?.coverage?.kind === 'alsoSent', 'the message marked as also sent');
    expect((await find(alice, messageId))?.coverage).toMatchObject({ kind: 'alsoSent', absent: ids.bob, status: 'offShift', to: [ids.dave] });
    const atBob = await arrived(bob, 'Rash after the antibiotic');
    const atDave = await arrived(dave, 'Rash after the antibiotic');
    expect(atDave.coverage).toEqual({ kind: 'forwarded', absent: ids.bob, status: 'offShift', original: messageId });
    expect((await readAll(dave, atDave.id, atDave.attachments[0]!)).equals(await readAll(bob, atBob.id, atBob.attachments[0]!))).toBe(true);
    // One upload for both: Bob and Dave, the colleague covering, were named its readers (Dave when it went).
    const blob = latestBlob(ids.alice!);
    expect(blob.readers).toEqual([ids.bob, ids.dave].sort());
    expect(await erinFetches(blob.id)).toBe('NOT_FOUND');
    await bob.call('presence.set', { status: 'available' });
  }, 60_000);

  it('sends an urgent photo to a role as asked after a restart between its upload and its release, to the holder then', async () => {
    const { conversationId } = await alice.call('roles.open', { roleId: cardiology });
    const staged = await stage(alice, jpegWithExif('restart'), 'chest.jpg');
    // The app quits the moment the photo is on the relay, before the message goes.
    let quit: Promise<void> | undefined;
    alice.app.subscribe((event: UiEvent) => {
      if (!quit && event.type === 'attachmentProgress' && event.direction === 'upload' && event.state === 'uploaded') quit = alice.app.close();
    });
    const { messageId } = await alice.call('messages.send', { conversationId, text: 'Chest X-ray: tension pneumothorax?', urgent: true, urgentReason: REASON, attachments: [staged.stagingId] });
    await until(() => quit !== undefined, 'the photo uploaded');
    await quit;
    // While Alice's workstation is closed, the role is handed over from Bob to Carol (by Dave, a scheduler).
    const shifts = await dave.call('roles.shifts', { roleId: cardiology, from: Date.now() - HOUR, to: Date.now() + HOUR });
    await dave.call('roles.removeShift', { roleId: cardiology, shiftId: shifts[0]!.id });
    await dave.call('roles.addShift', { roleId: cardiology, userId: ids.carol!, startsAt: Date.now() - 1000, endsAt: Date.now() + 8 * HOUR });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await find(bob, messageId)).toBeUndefined();

    await alice.restart();
    const atCarol = await arrived(carol, 'Chest X-ray: tension pneumothorax?');
    expect(atCarol).toMatchObject({ id: messageId, urgent: true, urgency: expect.objectContaining({ reason: REASON, canAcknowledge: true }), roleDelivery: expect.objectContaining({ handedOver: true, holders: [expect.objectContaining({ userId: ids.carol })] }) });
    expect((await readAll(carol, messageId, atCarol.attachments[0]!)).subarray(0, 2).toString('hex')).toBe('ffd8');
    await carol.call('messages.acknowledge', { messageId });
    await until(async () => ((await find(alice, messageId))?.urgency?.acknowledgements ?? []).some((a) => a.userId === ids.carol), 'Carol\'s acknowledgement at Alice');
    // Bob, no longer on call when it went, never got it nor may fetch its photo.
    expect(await find(bob, messageId)).toBeUndefined();
    expect(latestBlob(ids.alice!).readers).toEqual([ids.carol]);
  }, 60_000);
});


