import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConversationIdSchema, MessageIdSchema, type DeviceId } from '../../shared/ids';
import { ProtocolCore } from '../../main/core/crypto/ProtocolCore';
import { sealEnvelope } from '../../main/core/crypto/envelopes';
import { DEFAULT_KDF, WrappedKeySchema, WrongPassphraseError, unprotectKey, unwrapWithPassphrase, wrapWithPassphrase, type ProtectedKey } from '../../main/core/storage/DatabaseKey';
import { InProcessKeyProtector } from '../../main/core/storage/KeyProtector';
import { ProfileLockedError, ProfileWipedError } from '../../main/core/errors';
import { LocalProfiles } from '../../main/core/storage/LocalProfiles';
import { MessageStore } from '../../main/core/storage/MessageStore';
import { applyRetention } from '../../main/core/storage/Retention';
import { ProfileDatabase } from '../../main/core/storage/ProfileDatabase';
import { PROFILE_MIGRATIONS } from '../../main/core/storage/migrations';
import { TestCareTeams, TestDirectory, newConversationId, newUserId, textPayload } from '../fixtures/protocolHarness';
import { filesUnder, removeDir, tempDataDir } from '../fixtures/relayProcess';
import { FAST_KDF } from '../fixtures/workstation';

const PASSPHRASE = 'ward four night shift 2026';


describe('encrypted local profiles', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDataDir();
  });
  afterEach(() => removeDir(dir));

  it('wraps the database key under Argon2id (64 MiB by default, parameters recorded) and refuses a wrong passphrase', async () => {
    expect(DEFAULT_KDF.memoryKiB).toBeGreaterThanOrEqual(64 * 1024);
    const key = Buffer.alloc(32, 7);
    const wrapped = await wrapWithPassphrase(key, PASSPHRASE, 'profile-1', FAST_KDF);
    expect(wrapped.kdf).toMatchObject({ alg: 'argon2id', memoryKiB: 8192, passes: 1, parallelism: 1 });
    expect(await unwrapWithPassphrase(wrapped, PASSPHRASE, 'profile-1')).toEqual(key);
    await expect(unwrapWithPassphrase(wrapped, 'not the passphrase', 'profile-1')).rejects.toBeInstanceOf(WrongPassphraseError);
    // The wrapped key is bound to its profile: copied into another profile's entry, it does not open.
    await expect(unwrapWithPassphrase(wrapped, PASSPHRASE, 'profile-2')).rejects.toBeInstanceOf(WrongPassphraseError);
  });

  it('counts wrong passphrases across restarts and erases the profile at the policy limit', async () => {
    const profiles = new LocalProfiles(dir, { kdf: FAST_KDF, wipeAfterFailedUnlocks: 3 });
    const profile = await profiles.create({ username: 'alice', displayName: 'Dr. Alice Moreau', relayUrl: 'https://relay.example' }, PASSPHRASE);
    profile.lock();
    await expect(profiles.unlock(profile.id, 'wrong one')).rejects.toMatchObject({ code: 'WRONG_PASSPHRASE' });
    // A restart of the app does not reset the count.
    const afterRestart = new LocalProfiles(dir, { kdf: FAST_KDF, wipeAfterFailedUnlocks: 3 });
    expect(afterRestart.failedUnlocks(profile.id)).toBe(1);
    await expect(afterRestart.unlock(profile.id, 'wrong two')).rejects.toBeInstanceOf(WrongPassphraseError);
    // The right passphrase resets the count.
    (await afterRestart.unlock(profile.id, PASSPHRASE)).lock();
    expect(afterRestart.failedUnlocks(profile.id)).toBe(0);
    for (const attempt of ['a', 'b']) await expect(afterRestart.unlock(profile.id, attempt)).rejects.toBeInstanceOf(WrongPassphraseError);
    await expect(afterRestart.unlock(profile.id, 'c')).rejects.toBeInstanceOf(ProfileWipedError);
    expect(afterRestart.list()).toEqual([]);
    expect(() => readdirSync(afterRestart.profileDir(profile.id))).toThrow();
  });

  it("a profile sealed by the OS protector cannot be opened with another machine's protector, even with the passphrase", async () => {
    const here = new LocalProfiles(dir, { kdf: FAST_KDF, protector: new InProcessKeyProtector() });
    const profile = await here.create({ username: 'bob', displayName: 'Nurse Bob', relayUrl: 'https://relay.example' }, PASSPHRASE);
    profile.lock();
    (await here.unlock(profile.id, PASSPHRASE)).lock();
    const elsewhere = new LocalProfiles(dir, { kdf: FAST_KDF, protector: new InProcessKeyProtector() });
    await expect(elsewhere.unlock(profile.id, PASSPHRASE)).rejects.toMatchObject({ code: 'STORAGE_CORRUPT' });
  });

  it('clinicians sharing a workstation each have their own profile and key; neither can open the other', async () => {
    const profiles = new LocalProfiles(dir, { kdf: FAST_KDF });
    const alice = await profiles.create({ username: 'alice', displayName: 'Dr. Alice Moreau', relayUrl: 'https://relay.example' }, 'alice passphrase 2026');
    const bob = await profiles.create({ username: 'bob', displayName: 'Nurse Bob Okafor', relayUrl: 'https://relay.example' }, 'bob passphrase 2026!');
    new MessageStore(alice.database).insert({ id: MessageIdSchema.parse(crypto.randomUUID()), conversationId: newConversationId(), sender: { userId: newUserId(), deviceId: 1 as DeviceId }, sentAt: 1, receivedAt: 1, body: 'for Alice only', replyTo: null, urgent: false });
    alice.lock();
    bob.lock();
    expect(profiles.list().map((p) => p.username).sort()).toEqual(['alice', 'bob']);
    expect(profiles.profileDir(alice.id)).not.toBe(profiles.profileDir(bob.id));
    // Bob's passphrase does not open Alice's profile (and counts as a failed attempt on it).
    await expect(profiles.unlock(alice.id, 'bob passphrase 2026!')).rejects.toBeInstanceOf(WrongPassphraseError);
    // Bob's database key does not open Alice's database file either.
    const registry = JSON.parse(readFileSync(join(dir, 'profiles.json'), 'utf8')) as { profiles: Record<string, { wrappedKey: Parameters<typeof unwrapWithPassphrase>[0] }> };
    const bobKey = await unwrapWithPassphrase(registry.profiles[bob.id]!.wrappedKey, 'bob passphrase 2026!', bob.id);
    expect(() => new ProfileDatabase(join(profiles.profileDir(alice.id), 'profile.db'), bobKey)).toThrow(expect.objectContaining({ code: 'STORAGE_CORRUPT' }));
    const again = await profiles.unlock(alice.id, 'alice passphrase 2026');
    expect(again.database.all<{ body: string }>('SELECT body FROM messages').map((m) => m.body)).toEqual(['for Alice only']);
    again.lock();
  });

  it('after lock() every data API refuses; unlock restores access', async () => {
    const profiles = new LocalProfiles(dir, { kdf: FAST_KDF });
    const profile = await profiles.create({ username: 'carol', displayName: 'Dr. Carol Diaz', relayUrl: 'https://relay.example' }, PASSPHRASE);
    const conversation = newConversationId();
    const messages = new MessageStore(profile.database);
    const core = ProtocolCore.createDevice(profile.protocolStorage, { userId: newUserId(), deviceId: 1 as DeviceId });
    messages.insert({ id: MessageIdSchema.parse(crypto.randomUUID()), conversationId: conversation, sender: core.address, sentAt: 1, receivedAt: 1, body: 'potassium 5.9', replyTo: null, urgent: false });
    profile.lock();
    expect(() => profile.database).toThrow(ProfileLockedError);
    expect(() => profile.protocolStorage).toThrow(ProfileLockedError);
    expect(() => messages.page(conversation, 10)).toThrow(expect.objectContaining({ code: 'PROFILE_LOCKED' }));
    expect(() => core.safetyNumber(core.address)).toThrow(expect.objectContaining({ code: 'PROFILE_LOCKED' }));
    await expect(core.keys.initialUpload()).rejects.toMatchObject({ code: 'PROFILE_LOCKED' });
    const again = await profiles.unlock(profile.id, PASSPHRASE);
    expect(new MessageStore(again.database).page(conversation, 10).map((m) => m.body)).toEqual(['potassium 5.9']);
    expect(ProtocolCore.open(again.protocolStorage).address).toEqual(core.address);
    again.lock();
  });

  it('runs the Signal protocol on SQLCipher storage, and no file of the profile holds a message, a name or a key in clear', async () => {
    const protector = new InProcessKeyProtector();
    const profiles = new LocalProfiles(dir, { kdf: FAST_KDF, protector });
    const directory = new TestDirectory();
    const teams = new TestCareTeams();
    const alice = await profiles.create({ username: 'alice', displayName: 'Dr. Alice Moreau', relayUrl: 'https://relay.example' }, PASSPHRASE);
    const bob = await profiles.create({ username: 'bob', displayName: 'Nurse Bob Okafor', relayUrl: 'https://relay.example' }, 'another long passphrase 99');
    const [a, b] = [alice, bob].map((p) => ProtocolCore.createDevice(p.protocolStorage, { userId: newUserId(), deviceId: 1 as DeviceId }, { careTeams: teams, keyBundlePolicy: { batchSize: 5 } })) as [ProtocolCore, ProtocolCore];
    for (const core of [a, b]) directory.publish(core.address, await core.keys.initialUpload());
    const team = ConversationIdSchema.parse(crypto.randomUUID());
    teams.set(team, [a.address.userId, b.address.userId]);
    const secrets = ['Patient Jane Roe, MRN 4417, potassium 5.9', 'Mr. Smith in bed 12 is NPO after midnight'];
    const stores = [new MessageStore(alice.database), new MessageStore(bob.database)];

    await a.startSessions([directory.bundle(b.address)]);
    const [first] = (await a.encryptDirect([b.address], textPayload(newConversationId(), secrets[0]!))).map((o) => sealEnvelope(a.address, o));
    const received = await b.decrypt(first, { inTransaction: (m) => { if (m.payload.type === 'text') stores[1]!.insert({ id: m.payload.messageId, conversationId: m.payload.conversationId, sender: m.sender, sentAt: m.payload.sentAt, receivedAt: Date.now(), body: m.payload.text, replyTo: null, urgent: false }); } });
    expect(received.payload).toMatchObject({ text: secrets[0] });
    const sent = await b.encryptCareTeam(team, [a.address], textPayload(team, secrets[1]!));
    for (const envelope of [...sent.senderKeyShares, ...sent.messages].map((o) => sealEnvelope(b.address, o))) {
      const m = await a.decrypt(envelope);
      if (m.payload.type === 'text') stores[0]!.insert({ id: m.payload.messageId, conversationId: team, sender: m.sender, sentAt: m.payload.sentAt, receivedAt: Date.now(), body: m.payload.text, replyTo: null, urgent: false });
    }
    expect(stores[0]!.search('potass').length + stores[0]!.search('NPO midnight').length).toBe(1);
    expect(stores[1]!.search('potassium').map((m) => m.body)).toEqual([secrets[0]]);

    // Keys we can name: each profile's database key (unwrapped here with the passphrase), Alice's
    // identity public key. Scan every file under the profiles directory while still open (WAL in use) and after locking.
    // (Sealed by the OS protector: only this machine's protector gives the passphrase-wrapped key.)
    const registry = JSON.parse(readFileSync(join(dir, 'profiles.json'), 'utf8')) as { profiles: Record<string, { osProtected: ProtectedKey }> };
    const aliceWrapped = WrappedKeySchema.parse(JSON.parse(unprotectKey(registry.profiles[alice.id]!.osProtected, protector).toString('utf8')));
    const aliceKey = await unwrapWithPassphrase(aliceWrapped, PASSPHRASE, alice.id);
    const needles: [string, Buffer][] = [
      ...secrets.flatMap((s) => [[s, Buffer.from(s)], [`${s} (UTF-16)`, Buffer.from(s, 'utf16le')]] as [string, Buffer][]),
      ['patient name', Buffer.from('Jane Roe')],
      ['SQLite header', Buffer.from('SQLite format 3')],
      ['identity key', Buffer.from(a.identityKey)],
      ['registration id pattern', Buffer.from(`"registrationId":${a.registrationId}`)],
    ];
    needles.push(['database key', aliceKey], ['database key hex', Buffer.from(aliceKey.toString('hex'))]);
    const scan = (open: boolean) => {
      const files = filesUnder(dir);
      // While open, the write-ahead log holds recent pages: it must be encrypted as well.
      if (open) expect(files.some((f) => f.endsWith('profile.db-wal'))).toBe(true);
      for (const file of files) {
        const bytes = readFileSync(file);
        for (const [what, needle] of needles) expect(bytes.includes(needle), `${what} found in ${file}`).toBe(false);
      }
      return files;
    };
    scan(true);
    alice.lock();
    bob.lock();
    expect(scan(false).length).toBeGreaterThanOrEqual(3);
  });

  it('migrates an older profile schema with its data intact, and refuses one from a newer app', async () => {
    const path = join(dir, 'profile.db');
    const key = Buffer.alloc(32, 9);
    const v1 = new ProfileDatabase(path, key, PROFILE_MIGRATIONS.slice(0, 1));
    v1.run(`INSERT INTO secrets (name, value) VALUES ('credential', 'rd1.x')`);
    v1.close();
    const next = [...PROFILE_MIGRATIONS, { version: PROFILE_MIGRATIONS.length + 1, name: 'test', up: 'ALTER TABLE secrets ADD COLUMN note TEXT;' }];
    const v2 = new ProfileDatabase(path, key, next);
    expect(v2.version()).toBe(PROFILE_MIGRATIONS.length + 1);
    expect(v2.get(`SELECT value, note FROM secrets WHERE name = 'credential'`)).toEqual({ value: 'rd1.x', note: null });
    v2.close();
    expect(() => new ProfileDatabase(path, key)).toThrow(expect.objectContaining({ code: 'STORAGE_CORRUPT' }));
    // The wrong key is a clear error too, not a crash.
    expect(() => new ProfileDatabase(path, Buffer.alloc(32, 1), next)).toThrow(expect.objectContaining({ code: 'STORAGE_CORRUPT' }));
  });

  it('fills in the conversation list from existing messages when it migrates to version 5', () => {
    const path = join(dir, 'profile.db');
    const key = Buffer.alloc(32, 7);
    const [self, peer] = [newUserId(), newUserId()];
    const conversation = newConversationId();
    const v4 = new ProfileDatabase(path, key, PROFILE_MIGRATIONS.slice(0, 4));
    v4.run(`INSERT INTO secrets (name, value) VALUES ('userId', $u)`, { u: self });
    v4.run(`INSERT INTO messages (id, conversation_id, sender_user, sender_device, sent_at, received_at, body) VALUES ($id, $c, $u, 1, 5, 6, 'hello')`, { id: newConversationId(), c: conversation, u: peer });
    v4.run(`INSERT INTO messages (id, conversation_id, sender_user, sender_device, sent_at, received_at, body) VALUES ($id, $c, $u, 1, 7, 7, 'hi')`, { id: newConversationId(), c: conversation, u: self });
    v4.close();
    const v5 = new ProfileDatabase(path, key, PROFILE_MIGRATIONS.slice(0, 5));
    expect(v5.all('SELECT id, kind, peer, created_at FROM conversations')).toEqual([{ id: conversation, kind: 'direct', peer, created_at: 6 }]);
    expect(v5.get<{ n: number }>('SELECT count(*) AS n FROM messages')?.n).toBe(2);
    v5.close();
  });

  it('searches message history with prefixes and any punctuation, pages by (time, id), and expires old messages', async () => {
    const profiles = new LocalProfiles(dir, { kdf: FAST_KDF });
    const profile = await profiles.create({ username: 'dan', displayName: 'Dan', relayUrl: 'https://relay.example' }, PASSPHRASE);
    const store = new MessageStore(profile.database);
    const conversation = newConversationId();
    const sender = { userId: newUserId(), deviceId: 1 as DeviceId };
    const ids: string[] = [];
    for (let i = 0; i < 120; i++) {
      const id = MessageIdSchema.parse(crypto.randomUUID());
      ids.push(id);
      store.insert({ id, conversationId: conversation, sender, sentAt: 1000 + Math.floor(i / 3), receivedAt: 0, body: i === 7 ? 'Troponin rising: call cardiology "now"' : `routine note ${i}`, replyTo: null, urgent: false });
    }
    expect(store.search('tropon').map((m) => m.body)).toEqual(['Troponin rising: call cardiology "now"']);
    expect(store.search('cardiology "now"')).toHaveLength(1);
    expect(store.search('Cardiology: NOW!')).toHaveLength(1);
    expect(store.search('" ) ( * ^')).toEqual([]);
    // Paging: three messages share each timestamp; pages never skip or repeat one.
    const seen: string[] = [];
    let page = store.page(conversation, 50);
    while (page.length > 0) {
      seen.push(...page.map((m) => m.id));
      const last = page.at(-1)!;
      page = store.page(conversation, 50, { sentAt: last.sentAt, id: last.id });
    }
    expect(seen).toHaveLength(120);
    expect(new Set(seen)).toEqual(new Set(ids));
    // An urgent message's escalation ladder (its whole payload) and an acknowledgement of it go with it.
    const [oldest, newest] = [ids[0]!, ids.at(-1)!];
    for (const id of [oldest, newest]) {
      profile.database.run("INSERT INTO escalation_ladders (message_id, escalation_id, rungs, payload) VALUES ($m, $m, '[]', '{\"text\":\"Troponin\"}')", { m: id });
      // Of the message's own sender: an acknowledgement names the message by its sender and id (profile 0013).
      profile.database.run("INSERT INTO acknowledgements (message_id, conversation_id, sender_user, acknowledger_user, acknowledger_device, acknowledged_at, signature, received_at) VALUES ($m, 'c', $s, 'a', 1, 1, 'sig', 1)", { m: id, s: sender.userId });
    }
    // Org retention policy: 30 days; messages at t=1000..1039 ms are "old" at a clock 30 days + 1020 ms on.
    expect(applyRetention(profile.database, store, 30, 30 * 24 * 3600_000 + 1020)).toBe(60);
    expect(store.search('tropon')).toEqual([]);
    for (const table of ['escalation_ladders', 'acknowledgements']) {
      expect(profile.database.all<{ m: string }>(`SELECT message_id AS m FROM ${table}`).map((r) => r.m)).toEqual([newest]);
    }
    expect(profile.database.all<{ type: string; details: string }>('SELECT type, details FROM local_audit')).toEqual([
      { type: 'retention.deleted', details: JSON.stringify({ count: 60, before: 1020, days: 30 }) },
    ]);
    profile.lock();
  });
});
