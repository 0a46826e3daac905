import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceIdSchema, MessageIdSchema, UserIdSchema, type ConversationId, type MessageId, type UserId } from '../../../../shared/ids';
import { PAYLOAD_VERSION, ReceiptPayloadSchema } from '../../../../shared/payload';
import { useTempDirs } from '../../../../test/fixtures/tempDirs';
import { AccountSecrets } from '../AccountSecrets';
import { ConversationStore } from '../ConversationStore';
import { RoleConversationStore } from '../RoleConversationStore';
import { RoleIdSchema } from '../../../../shared/wire/roles';
import { MessageStore } from '../MessageStore';
import { UrgencyStore } from '../UrgencyStore';
import { HeldSendStore } from '../HeldSendStore';
import { OutboxStore } from '../OutboxStore';
import { ProfileDatabase } from '../ProfileDatabase';
import { PROFILE_MIGRATIONS } from './index';

/*
 * One test per migration of the profile database: a database written at the version before it, with
 * the data that version could hold, opens under the migration with that data intact and usable.
 */

const tempDir = useTempDirs();
const open: ProfileDatabase[] = [];
afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

const self = UserIdSchema.parse(randomUUID());
const peer = UserIdSchema.parse(randomUUID());
const conversation = randomUUID() as ConversationId;

/** The schema version after the first `count` migrations (numbers reserved for work elsewhere may be missing). */
const versionAt = (count: number) => PROFILE_MIGRATIONS[count - 1]?.version ?? 0;

/** A profile database at schema `version` (only the migrations up to it), and how to open it again newer. */
function databaseAt(version: number) {
  const path = join(tempDir(), 'profile.db');
  const key = randomBytes(32);
  const db = new ProfileDatabase(path, Buffer.from(key), PROFILE_MIGRATIONS.slice(0, version));
  expect(db.version()).toBe(versionAt(version));
  return {
    db,
    /** Closes it and opens it with the migrations up to `next` (default: every one). */
    upgrade(next = PROFILE_MIGRATIONS.length): ProfileDatabase {
      db.close();
      const upgraded = new ProfileDatabase(path, Buffer.from(key), PROFILE_MIGRATIONS.slice(0, next));
      open.push(upgraded);
      expect(upgraded.version()).toBe(versionAt(next));
      return upgraded;
    },
  };
}

/** A message row as every version since 0001 can hold it. */
function insertMessage(db: ProfileDatabase, message: { id?: MessageId; conversationId?: string; from: UserId; at: number; body: string; urgent?: boolean }): MessageId {
  const id = message.id ?? MessageIdSchema.parse(randomUUID());
  db.run(
    'INSERT INTO messages (id, conversation_id, sender_user, sender_device, sent_at, received_at, body, reply_to, urgent) VALUES ($id, $c, $u, 1, $at, $at, $body, NULL, $urgent)',
    { id, c: message.conversationId ?? conversation, u: message.from, at: message.at, body: message.body, urgent: message.urgent ? 1 : 0 },
  );
  return id;
}

describe('profile database migrations', () => {
  it('0001 profile: a new file becomes an empty profile with every table of the first schema', () => {
    const db = databaseAt(0).upgrade(1);
    const tables = db.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").map((t) => t.name);
    expect(tables).toEqual(expect.arrayContaining(['local_audit', 'messages', 'messages_fts', 'protocol_kv', 'schema_migrations', 'secrets']));
    expect(db.get<{ n: number }>('SELECT count(*) AS n FROM messages')?.n).toBe(0);
  });

  it('0002 outbox: keeps messages, secrets and protocol state, and adds an outbox that survives reopening', () => {
    const v1 = databaseAt(1);
    insertMessage(v1.db, { from: peer, at: 1000, body: 'potassium 5.9' });
    new AccountSecrets(v1.db).saveAccount({ userId: self, deviceId: DeviceIdSchema.parse(2), credential: 'rd1.secret' });
    v1.db.run("INSERT INTO protocol_kv (ns, key, value) VALUES ('session', 'k', x'0102')");
    const db = v1.upgrade(2);
    expect(new MessageStore(db).search('potassium').map((m) => m.body)).toEqual(['potassium 5.9']);
    expect(new AccountSecrets(db).account()).toMatchObject({ userId: self, deviceId: 2, credential: 'rd1.secret' });
    expect([...(db.get<{ value: Uint8Array }>("SELECT value FROM protocol_kv WHERE key = 'k'")?.value ?? [])]).toEqual([1, 2]);
    const receipt = ReceiptPayloadSchema.parse({ v: PAYLOAD_VERSION, type: 'receipt', receipt: 'read', conversationId: conversation, messageIds: [randomUUID()], sentAt: 1 });
    new OutboxStore(db).add(randomUUID(), [peer], receipt, 2000);
    expect(new OutboxStore(db).next(0)).toMatchObject({ recipients: [peer], payload: receipt, attempts: 0 });
  });

  it('0003 read-state: messages received before it count as unread, and can then be read', () => {
    const v2 = databaseAt(2);
    const ids = [insertMessage(v2.db, { from: peer, at: 1000, body: 'first' }), insertMessage(v2.db, { from: peer, at: 2000, body: 'second', urgent: true })];
    const db = v2.upgrade(3);
    const messages = new MessageStore(db);
    expect(messages.page(conversation, 10).map((m) => [m.body, m.readAt])).toEqual([['second', null], ['first', null]]);
    expect(messages.unreadUrgent(self).map((m) => m.id)).toEqual([ids[1]]);
    expect(messages.markRead(conversation, self, 3000).sort()).toEqual([...ids].sort());
  });

  it('0004 receipts: keeps messages and their read state, and records receipts for them', () => {
    const v3 = databaseAt(3);
    const ours = insertMessage(v3.db, { from: self, at: 1000, body: 'bed 12 repeat in 2h' });
    const theirs = insertMessage(v3.db, { from: peer, at: 2000, body: 'on it' });
    v3.db.run('UPDATE messages SET read_at = 2500 WHERE id = $id', { id: theirs });
    const db = v3.upgrade(4);
    const messages = new MessageStore(db);
    expect(messages.byId(theirs)?.readAt).toBe(2500);
    messages.recordReceipt([ours], peer, 'delivered', 3000);
    expect(messages.receipts(ours)).toEqual({ delivered: [peer], read: [] });
  });

  it('0005 conversations: lists the 1:1 conversations that earlier versions only knew from their messages', () => {
    const v4 = databaseAt(4);
    new AccountSecrets(v4.db).saveAccount({ userId: self, deviceId: DeviceIdSchema.parse(1), credential: 'rd1.secret' });
    insertMessage(v4.db, { from: self, at: 1000, body: 'are you on the ward' });
    insertMessage(v4.db, { from: peer, at: 2000, body: 'yes, bed 4' });
    // (Listed with today's code, which also reads tables later migrations add.)
    const db = v4.upgrade();
    const conversations = new ConversationStore(db);
    expect(conversations.peer(conversation)).toBe(peer);
    expect(conversations.list(self)).toEqual([expect.objectContaining({ id: conversation, kind: 'direct', unread: 1 })]);
    expect(new MessageStore(db).page(conversation, 10).map((m) => m.body)).toEqual(['yes, bed 4', 'are you on the ward']);
  });

  it('0006 team versions: fills in 1:1 conversations holding only our own messages, from their receipts', () => {
    const v5 = databaseAt(5);
    new AccountSecrets(v5.db).saveAccount({ userId: self, deviceId: DeviceIdSchema.parse(1), credential: 'rd1.secret' });
    const ours = insertMessage(v5.db, { from: self, at: 1000, body: 'handover at 7' });
    new MessageStore(v5.db).recordReceipt([ours], peer, 'read', 1500);
    const db = v5.upgrade(6);
    const messages = new MessageStore(db);
    expect(new ConversationStore(db).peer(conversation)).toBe(peer);
    expect(messages.byId(ours)).toMatchObject({ body: 'handover at 7', recipients: null, sendFailed: null });
    expect(messages.receipts(ours)).toEqual({ delivered: [peer], read: [peer] }); // read implies delivered
  });

  it('0007 coverage: keeps messages, none marked as forwarded, and records how forwarding touched new ones', () => {
    const v6 = databaseAt(6);
    const earlier = insertMessage(v6.db, { from: peer, at: 1000, body: 'bed 3 obs stable' });
    const db = v6.upgrade(7);
    const messages = new MessageStore(db);
    expect(messages.byId(earlier)).toMatchObject({ body: 'bed 3 obs stable', coverage: null });
    messages.setCoverage(earlier, { kind: 'forwarded', absent: peer, status: 'offShift' });
    expect(messages.byId(earlier)?.coverage).toEqual({ kind: 'forwarded', absent: peer, status: 'offShift' });
  });

  it('0008 role conversations: keeps messages, none to a role, and keeps role conversations with who held the role', () => {
    const v7 = databaseAt(7);
    const earlier = insertMessage(v7.db, { from: peer, at: 1000, body: 'bed 3 obs stable' });
    const db = v7.upgrade(8);
    const messages = new MessageStore(db);
    expect(messages.byId(earlier)).toMatchObject({ body: 'bed 3 obs stable', roleDelivery: null });
    const roleId = RoleIdSchema.parse(randomUUID());
    const holders = [{ userId: peer, displayName: 'Dr. Lee', since: 900 }];
    const roles = new RoleConversationStore(db);
    roles.ensure(conversation, roleId, 'Cardiology on call', self, 1000);
    roles.setHolders(conversation, holders);
    expect(roles.get(conversation)).toEqual({ id: conversation, roleId, roleName: 'Cardiology on call', initiator: self, holders, createdAt: 1000 });
    const delivery = { roleId, roleName: 'Cardiology on call', initiator: self, holders, handedOver: false, via: 'holders' as const };
    messages.setRoleDelivery(earlier, delivery);
    expect(messages.byId(earlier)?.roleDelivery).toEqual(delivery);
  });

  it('0009 acknowledgements: unread urgent messages await acknowledgement (read ones closed their loop), and signed acknowledgements are kept', () => {
    const v8 = databaseAt(8);
    const urgent = insertMessage(v8.db, { from: peer, at: 1000, body: 'bed 3 sats 84%', urgent: true });
    const readEarlier = insertMessage(v8.db, { from: peer, at: 900, body: 'bed 5 BP 80/40', urgent: true });
    v8.db.run('UPDATE messages SET read_at = 950 WHERE id = $id', { id: readEarlier });
    // Through the latest, whose columns the store reads and writes (0011's and 0013's own tests are below).
    const db = v8.upgrade();
    const store = new UrgencyStore(db);
    expect(store.unacknowledged(self).map((m) => m.id)).toEqual([urgent]);
    const signed = { statement: { messageId: urgent, conversationId: conversation, sender: peer, acknowledger: { userId: self, deviceId: DeviceIdSchema.parse(1) }, acknowledgedAt: 1500 }, signature: 'A'.repeat(86) + '==' };
    expect(store.addAcknowledgement(signed, 1500)).toBe(true);
    expect(store.addAcknowledgement(signed, 1600)).toBe(false);
    expect(store.unacknowledged(self)).toEqual([]);
    expect(store.unreported(self).map((a) => a.statement.messageId)).toEqual([urgent]);
  });

  it('0010 attachments: keeps messages, and a message\'s attachments and their bytes go with it', () => {
    const v9 = databaseAt(9);
    const kept = insertMessage(v9.db, { from: peer, at: 1000, body: 'photo attached' });
    // Through the latest: the store deletes by columns later migrations add.
    const db = v9.upgrade();
    db.run(
      `INSERT INTO attachments (id, message_id, position, outgoing, content_type, kind, size, key, digest, cipher_size, state, created_at)
       VALUES ('a1', $m, 0, 0, 'image/jpeg', 'image', 10, x'00', 'd', 50, 'stored', 1000)`,
      { m: kept },
    );
    db.run(`INSERT INTO attachment_bytes (attachment_id, start_at, data) VALUES ('a1', 0, x'0102')`);
    expect(new MessageStore(db).byId(kept)?.body).toBe('photo attached');
    expect(new MessageStore(db).deleteOlderThan(2000)).toBe(1);
    expect(db.get('SELECT count(*) AS n FROM attachments')).toEqual({ n: 0 });
    expect(db.get('SELECT count(*) AS n FROM attachment_bytes')).toEqual({ n: 0 });
  });

  it('0011 covering acknowledgements: earlier ones read as before (verified, for nobody), a covering one keeps whom it covered for', () => {
    const v10 = databaseAt(10);
    const urgent = insertMessage(v10.db, { from: peer, at: 1000, body: 'bed 3 sats 84%', urgent: true });
    v10.db.run(
      `INSERT INTO acknowledgements (message_id, conversation_id, sender_user, acknowledger_user, acknowledger_device, acknowledged_at, signature, received_at, reported_at)
       VALUES ($m, $c, $s, $u, 1, 1500, $sig, 1500, NULL)`, { m: urgent, c: conversation, s: peer, u: self, sig: 'A'.repeat(86) + '==' },
    );
    const covered = insertMessage(v10.db, { from: peer, at: 1100, body: 'bed 8 K+ 6.9', urgent: true });
    // Through the latest: the store reads columns later migrations add.
    const db = v10.upgrade();
    const store = new UrgencyStore(db);
    expect(store.unacknowledged(self).map((m) => m.id)).toEqual([covered]);
    const [earlier] = store.acknowledgements(urgent);
    expect(earlier?.statement).not.toHaveProperty('coveringFor');
    expect(earlier?.vouchedBy).toBeNull();
    const other = UserIdSchema.parse(randomUUID());
    const covering = { statement: { messageId: urgent, conversationId: conversation, sender: peer, acknowledger: { userId: other, deviceId: DeviceIdSchema.parse(2) }, acknowledgedAt: 1600, coveringFor: self }, signature: 'B'.repeat(86) + '==' };
    expect(store.addAcknowledgement(covering, 1700, null, peer)).toBe(true);
    expect(store.acknowledgements(urgent)[1]).toMatchObject({ statement: { coveringFor: self }, vouchedBy: peer });
    store.markVerified(urgent, covering.signature);
    expect(store.acknowledgements(urgent)[1]?.vouchedBy).toBeNull();
    // Acknowledged by the colleague covering for this user: no more reminders here either.
    expect(store.addAcknowledgement({ ...covering, statement: { ...covering.statement, messageId: covered } }, 1800)).toBe(true);
    expect(store.unacknowledged(self)).toEqual([]);
    // An acknowledgement of an original this profile holds only as a copy (here, forwarded to it) stays as long as the copy.
    const messages = new MessageStore(db);
    const original = MessageIdSchema.parse(randomUUID());
    const copy = insertMessage(db, { from: peer, at: 5000, body: 'bed 9 sats 80%', urgent: true });
    messages.setCoverage(copy, { kind: 'forwarded', absent: other, status: 'offShift', original });
    expect(store.addAcknowledgement({ ...covering, statement: { ...covering.statement, messageId: original } }, 5100)).toBe(true);
    messages.deleteOlderThan(4000);
    expect(store.acknowledgements(original)).toHaveLength(1);
    messages.deleteOlderThan(6000);
    expect(store.acknowledgements(original)).toEqual([]);
  });

  it('0012 held sends: keeps messages, and how a message with attachments is to go is kept until it goes, and goes with it', () => {
    const before = PROFILE_MIGRATIONS.findIndex((m) => m.version === 12);
    const old = databaseAt(before);
    const kept = insertMessage(old.db, { from: self, at: 1000, body: 'wound photo, urgent' });
    // Written by the version before, its upload still under way: it is held, to go once it is up.
    const uploading = insertMessage(old.db, { conversationId: conversation, from: self, at: 1100, body: 'photo on its way' });
    old.db.run(
      `INSERT INTO attachments (id, message_id, position, outgoing, content_type, kind, size, key, digest, cipher_size, state, created_at)
       VALUES ('a1', $m, 0, 1, 'image/jpeg', 'image', 10, x'00', 'd', 50, 'uploading', 1100)`,
      { m: uploading },
    );
    // Through the latest: the message store deletes by columns later migrations add.
    const db = old.upgrade();
    const held = new HeldSendStore(db);
    expect(held.get(uploading)).toEqual({ kind: 'direct' });
    expect(held.ready()).toEqual([]);
    db.run(`UPDATE attachments SET state = 'uploaded'`);
    expect(held.ready()).toEqual([uploading]);
    expect(held.release(uploading)).toBe(true);
    held.hold(kept, { kind: 'direct', urgent: { reason: 'Deteriorating patient', escalationId: 'e1', rungs: [{ afterMs: 300_000, recipients: [peer] }] } }, 1000);
    expect(held.get(kept)).toEqual({ kind: 'direct', urgent: { reason: 'Deteriorating patient', escalationId: 'e1', rungs: [{ afterMs: 300_000, recipients: [peer] }] } });
    // No attachments left to upload: ready to go.
    expect(held.ready()).toEqual([kept]);
    expect(new MessageStore(db).deleteOlderThan(2000)).toBe(2);
    expect(held.get(kept)).toBeUndefined();
  });

  it("0013 messages by sender: keeps messages, and another sender's message under an id held here is kept under its own", () => {
    const before = PROFILE_MIGRATIONS.findIndex((m) => m.version === 13);
    const old = databaseAt(before);
    const held = insertMessage(old.db, { from: peer, at: 1000, body: 'bed 12 potassium 5.9' });
    const db = old.upgrade(before + 1);
    const messages = new MessageStore(db);
    expect(messages.byId(held)).toMatchObject({ body: 'bed 12 potassium 5.9', sender: { userId: peer } });
    expect(messages.byId(held)).not.toHaveProperty('wireId');
    const reused = { id: held, conversationId: conversation, sender: { userId: self, deviceId: DeviceIdSchema.parse(2) }, sentAt: 1100, receivedAt: 1100, body: 'same id, another sender', replyTo: null, urgent: false };
    const kept = messages.receive(reused);
    expect(kept).toBeDefined();
    expect(kept).not.toBe(held);
    expect(messages.bySender(held, self)).toMatchObject({ id: kept, wireId: held, body: 'same id, another sender' });
    expect(messages.senders([kept!]).get(self)?.ids).toEqual([held]);
    // A replay from either sender is stored once.
    expect(messages.receive(reused)).toBeUndefined();
    expect(messages.receive({ ...reused, sender: { userId: peer, deviceId: DeviceIdSchema.parse(1) } })).toBeUndefined();
    expect(db.get<{ n: number }>('SELECT count(*) AS n FROM messages')?.n).toBe(2);
  });

  it('0014 pending saves: keeps messages, and notes a save\'s temporary file until it ends', () => {
    const before = PROFILE_MIGRATIONS.findIndex((m) => m.version === 14);
    const old = databaseAt(before);
    const kept = insertMessage(old.db, { from: self, at: 1000, body: 'before pending saves' });
    const db = old.upgrade(before + 1);
    expect(new MessageStore(db).byId(kept)?.body).toBe('before pending saves');
    db.run(`INSERT INTO pending_saves (part_path, identity, parent_identity, started_at) VALUES ('/tmp/.rounds-x.part', '1:2', '1:1', 5)`);
    expect(db.all('SELECT part_path, identity, parent_identity FROM pending_saves')).toEqual([{ part_path: '/tmp/.rounds-x.part', identity: '1:2', parent_identity: '1:1' }]);
  });

  it('0015 acknowledgements set aside: keeps messages and acknowledgements, and sets a refused covering one aside', () => {
    const before = PROFILE_MIGRATIONS.findIndex((m) => m.version === 15);
    const old = databaseAt(before);
    const kept = insertMessage(old.db, { from: self, at: 1000, body: 'before acknowledgements set aside' });
    const db = old.upgrade(before + 1);
    expect(new MessageStore(db).byId(kept)?.body).toBe('before acknowledgements set aside');
    db.run(`INSERT INTO acknowledgements_set_aside (signature, message_id, sender_user, payload, from_user, from_device, received_at) VALUES ('s', $m, 'u', '{}', 'c', 1, 5)`, { m: kept });
    expect(db.all('SELECT message_id FROM acknowledgements_set_aside')).toEqual([{ message_id: kept }]);
  });

  it('has a test above for every migration', () => {
    expect(PROFILE_MIGRATIONS.map((m) => m.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  });
});
