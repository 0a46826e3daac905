import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserId } from '../../shared/ids';
import { DEFAULT_POLICY, type OrgPolicy } from '../../shared/policy';
import { largestPlain } from '../../main/core/attachments/attachmentCipher';
import { markedBytes } from '../fixtures/attachmentFiles';
import { RelayProcess, addUser, removeDir, tempDataDir } from '../fixtures/relayProcess';
import { Workstation, stageFile, until } from '../fixtures/workstation';

/*
 * How large a file a workstation sends, through a real relay process whose blob cap (--blob-max-mib 32) is below the
 * organisation's policy (100 MiB): a larger file is refused when it is attached, naming the relay's limit; and a
 * file of many MiB is encrypted into the profile without a second copy of it in memory.
 */
const MIB = 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** Bytes of ArrayBuffers (Buffers) this process holds once garbage is collected. */
const heldBuffers = () => {
  gc();
  gc();
  return process.memoryUsage().arrayBuffers;
};

describe('attachment sizes through a real relay', () => {
  let relayDir: string;
  let relay: RelayProcess;
  const dirs: string[] = [];
  let alice: Workstation;
  let bob: Workstation;
  let bobId: UserId;
  const policy: OrgPolicy = { ...DEFAULT_POLICY, attachments: { ...DEFAULT_POLICY.attachments, autoDownloadBytes: 0 } };

  const stage = stageFile;

  beforeAll(async () => {
    relayDir = tempDataDir();
    relay = await RelayProcess.start(relayDir, ['--blob-max-mib', '32', '--blob-quota-mib', '256']);
    const workstation = () => {
      const dir = tempDataDir();
      dirs.push(dir);
      return new Workstation(dir, { policy });
    };
    alice = workstation();
    bob = workstation();
    await alice.enroll(relay.url, 'alice', addUser(relayDir, 'alice', 'Dr. Alice Moreau'));
    await bob.enroll(relay.url, 'bob', addUser(relayDir, 'bob', 'Nurse Bob Okafor'));
    bobId = (await alice.call('directory.list', {})).find((c) => c.username === 'bob')!.userId;
    await until(async () => (await alice.online()) && (await bob.online()), 'both online');
  }, 120_000);

  afterAll(async () => {
    for (const w of [alice, bob]) await w?.app.close();
    await relay?.stop();
    removeDir(relayDir);
    for (const d of dirs) removeDir(d);
  });

  it('refuses, when it is attached, a file the policy allows but the relay does not take, naming the relay\'s limit', async () => {
    const refused = await alice.fails('attachments.stageBegin', { fileName: 'angio.mp4', size: 40 * MIB });
    expect(refused.code).toBe('ATTACHMENT_TOO_LARGE');
    expect(refused.message).toBe('the relay takes files of at most 31.9 MiB; this one is 40.0 MiB');
    // Past the policy, the policy's limit is the one named.
    expect((await alice.fails('attachments.stageBegin', { size: 101 * MIB })).message).toMatch(/policy allows files of at most/);
    // The composer is told the smaller limit (it refuses a larger file before reading a byte of it).
    expect((await alice.call('attachments.policy', {})).maxBytes).toBe(largestPlain(32 * MIB));
    // Just under the relay's cap is taken.
    const { stagingId } = await alice.call('attachments.stageBegin', { fileName: 'ok.bin', size: 31 * MIB });
    await alice.call('attachments.stageDiscard', { stagingId });
  });

  it('sends a file of many MiB without holding a second copy of it in memory', async () => {
    const conversationId = (await alice.call('conversations.openDirect', { userId: bobId })).conversationId;
    const size = 24 * MIB;
    const original = markedBytes(size, 'BIG-SCAN');
    const before = heldBuffers();
    const staged = await stage(alice, original, 'scan.bin');
    // Staged, the file is in memory once (the composer's copy, by design: never in a temporary file).
    expect(heldBuffers() - before).toBeGreaterThan(size * 0.9);
    const { messageId } = await alice.call('messages.send', { conversationId, text: 'CT', attachments: [staged.stagingId] });
    // Right after the send (its upload just begun): the staged copy went into the profile, encrypted segment by
    // segment, and no ciphertext of the whole file stays behind in memory for the upload.
    expect(heldBuffers() - before).toBeLessThan(size / 4);
    await until(async () => (await alice.call('messages.page', { conversationId, limit: 5 })).find((m) => m.id === messageId)?.attachments[0]?.state === 'uploaded', 'uploaded', 60_000);
    await until(async () => (await bob.call('messages.page', { conversationId, limit: 5 })).some((x) => x.id === messageId), 'received', 30_000);
    const m = (await bob.call('messages.page', { conversationId, limit: 5 })).find((x) => x.id === messageId)!;
    const fetched = await bob.call('attachments.fetch', { messageId, attachmentId: m.attachments[0]!.id });
    expect(fetched.state).toBe('stored');
    const head = await bob.call('attachments.read', { messageId, attachmentId: fetched.id, variant: 'original', offset: size - MIB, length: MIB });
    expect(Buffer.from(head.data, 'base64').equals(original.subarray(size - MIB))).toBe(true);
  }, 120_000);
});
