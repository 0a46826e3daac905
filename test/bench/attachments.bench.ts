/**
 * Issue 20's attachment benchmark: a 100 MiB file encrypted, uploaded through a real relay process (each chunk
 * durably written, the whole blob's SHA-256 checked) and fetched and verified by a colleague's workstation, in
 * MiB/s, against plain `openssl enc` of the same file in the same run. `openssl enc` refuses AEAD ciphers
 * (-aes-256-gcm: "AEAD ciphers not supported"), so the baseline is -aes-256-ctr plus `openssl dgst -sha256
 * -hmac`: the encrypt-then-MAC pair a file tool would use. Ours also includes staging-free encryption alone
 * (AES-256-GCM segments), to tell the cipher's cost from the relay's.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_POLICY } from '../../shared/policy';
import { encryptAttachment, newAttachmentKey } from '../../main/core/attachments/attachmentCipher';
import { RelayProcess, addUser, removeDir, tempDataDir } from '../fixtures/relayProcess';
import { Workstation, until } from '../fixtures/workstation';
import type { BenchRow } from './measure';

const SUITE = 'attachments (100 MiB)';
const MIB = 1024 * 1024;
const SIZE = 100 * MIB;

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

/** Seconds `openssl` takes for `args`, or NaN when it refuses them. */
function openssl(args: readonly string[]): number {
  const start = process.hrtime.bigint();
  const result = spawnSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return result.status === 0 ? seconds(start) : Number.NaN;
}

export async function runAttachmentBench(): Promise<BenchRow[]> {
  const dirs = [tempDataDir(), tempDataDir(), tempDataDir(), tempDataDir()];
  const [relayDir, aliceDir, bobDir, scratch] = dirs as [string, string, string, string];
  const relay = await RelayProcess.start(relayDir, ['--blob-max-mib', '128']);
  const policy = { ...DEFAULT_POLICY, attachments: { ...DEFAULT_POLICY.attachments, autoDownloadBytes: 0 } };
  const alice = new Workstation(aliceDir, { policy });
  const bob = new Workstation(bobDir, { policy });
  try {
    await alice.enroll(relay.url, 'alice', addUser(relayDir, 'alice', 'Dr. Alice Moreau'));
    await bob.enroll(relay.url, 'bob', addUser(relayDir, 'bob', 'Nurse Bob Okafor'));
    const bobId = (await alice.call('directory.list', {})).find((c) => c.username === 'bob')!.userId;
    await until(async () => (await alice.online()) && (await bob.online()), 'both online', 30_000);
    const file = randomBytes(SIZE);

    // The cipher alone, in memory.
    const encryptStart = process.hrtime.bigint();
    encryptAttachment(newAttachmentKey(), file);
    const encryptSeconds = seconds(encryptStart);

    // Staged as the composer stages it (1 MiB chunks), then sent: timed from the send to the relay's last byte.
    const { stagingId, chunkBytes } = await alice.call('attachments.stageBegin', { fileName: 'ct.bin', size: SIZE });
    for (let at = 0; at < SIZE; at += chunkBytes) await alice.call('attachments.stageChunk', { stagingId, offset: at, data: file.subarray(at, at + chunkBytes).toString('base64') });
    await alice.call('attachments.stageFinish', { stagingId });
    const { conversationId } = await alice.call('conversations.openDirect', { userId: bobId });
    let uploaded = false;
    alice.app.subscribe((e) => { if (e.type === 'attachmentProgress' && e.state === 'uploaded') uploaded = true; });
    const uploadStart = process.hrtime.bigint();
    const { messageId } = await alice.call('messages.send', { conversationId, text: '', attachments: [stagingId] });
    await until(() => uploaded, 'upload', 600_000);
    const uploadSeconds = seconds(uploadStart);

    const page = async () => (await bob.call('messages.page', { conversationId, limit: 5 })).find((m) => m.id === messageId);
    await until(async () => (await page()) !== undefined, 'message at Bob', 60_000);
    const attachmentId = (await page())!.attachments[0]!.id;
    const fetchStart = process.hrtime.bigint();
    await bob.call('attachments.fetch', { messageId, attachmentId });
    const fetchSeconds = seconds(fetchStart);

    // The baseline: the same bytes as a file, through openssl.
    const plain = join(scratch, 'file.bin');
    writeFileSync(plain, file);
    const key = randomBytes(32).toString('hex');
    const ctr = openssl(['enc', '-aes-256-ctr', '-K', key, '-iv', randomBytes(16).toString('hex'), '-in', plain, '-out', join(scratch, 'file.ctr')]);
    const hmac = openssl(['dgst', '-sha256', '-hmac', key, '-out', join(scratch, 'file.mac'), join(scratch, 'file.ctr')]);
    const gcm = openssl(['enc', '-aes-256-gcm', '-K', key, '-iv', randomBytes(12).toString('hex'), '-in', plain, '-out', join(scratch, 'file.gcm')]);
    const bare = SIZE / MIB / (ctr + hmac);
    const row = (name: string, secs: number): BenchRow => {
      const ours = SIZE / MIB / secs;
      return { suite: SUITE, name, unit: 'MiB/s', ours, bare, ratio: bare / ours, goal: 'info: vs openssl enc -aes-256-ctr + dgst -hmac' };
    };
    return [
      row('encrypt only (AES-256-GCM segments + SHA-256)', encryptSeconds),
      row('encrypt + upload through the relay', uploadSeconds),
      row('fetch + verify from the relay', fetchSeconds),
      { suite: SUITE, name: 'openssl enc -aes-256-gcm of the same file', unit: 'MiB/s', ours: Number.NaN, bare: Number.isNaN(gcm) ? Number.NaN : SIZE / MIB / gcm, goal: Number.isNaN(gcm) ? 'openssl enc refuses AEAD ciphers' : 'info' },
    ];
  } finally {
    await alice.app.close();
    await bob.app.close();
    await relay.stop();
    for (const dir of dirs) removeDir(dir);
  }
}
