/**
 * The price of durability, measured on its own: the relay's store (SqliteRelayStore, SQLCipher, fsynced
 * WAL) taking messages and their acknowledgements exactly as the relay hands them over (group commit,
 * acknowledgements riding with the next sends, two audit records a message), with no network, no
 * frames and no checks. Its CPU per message is a floor under the whole relay's: whatever the rest costs
 * comes on top. Measured in this process (the load client's core), one send per commit (a relay at a
 * low rate) and many (a saturated one).
 */
import { randomUUID } from 'node:crypto';
import { openStore } from '../../server/openStore';
import type { EnvelopeId } from '../../shared/ids';
import type { BenchRow } from './measure';
import { removeDir, tempDataDir } from '../fixtures/relayProcess';
import { provision } from './relayLoad';

const PAIRS = 50;
const LIMITS = { maxEnvelopes: 100_000, maxBytes: 1e12, maxEnvelopesPerSender: 100_000, maxBytesPerSender: 1e12 };

export interface StoreFloor {
  /** Store CPU (user + system) per message: its send and its acknowledgement, µs. */
  readonly cpuMicros: number;
  readonly messages: number;
}

/** `perCommit` sends a turn, each acknowledged once stored, for `messages` messages of `content` (base64). */
export async function storeFloor(content: string, perCommit: number, messages: number): Promise<StoreFloor> {
  const dir = tempDataDir();
  try {
    const devices = await provision(dir, 2 * PAIRS);
    const store = openStore(dir);
    try {
      const round = async (first: number) => {
        const sent = await Promise.all(Array.from({ length: perCommit }, (_, k) => {
          const pair = (first + k) % PAIRS;
          const [sender, recipient] = [devices[pair]!.address, devices[pair + PAIRS]!.address];
          const envelope = { id: randomUUID() as EnvelopeId, type: 'whisper' as const, sender, recipient, content, acceptedAt: Date.now() };
          return store.enqueue([envelope], (e) => ({ type: 'envelope.accepted', actor: `${sender.userId}.${sender.deviceId}`, subject: e.id, details: { recipient: `${recipient.userId}.${recipient.deviceId}`, size: content.length, type: 'whisper' } }), LIMITS)
            .then(() => ({ recipient, id: envelope.id }));
        }));
        // Not awaited: as in the relay, they ride with the next round's sends.
        return sent.map(({ recipient, id }) => store.acknowledge(recipient, [id], (acked) => ({ type: 'envelope.delivered', actor: `${recipient.userId}.${recipient.deviceId}`, subject: acked, details: {} })));
      };
      await Promise.all(await round(0));
      const rounds = Math.ceil(messages / perCommit);
      const acks: Promise<unknown>[] = [];
      const cpu = process.cpuUsage();
      for (let r = 0; r < rounds; r++) acks.push(...await round(r * perCommit));
      await Promise.all(acks);
      const used = process.cpuUsage(cpu);
      return { cpuMicros: (used.user + used.system) / (rounds * perCommit), messages: rounds * perCommit };
    } finally {
      await store.close();
    }
  } finally {
    removeDir(dir);
  }
}

/**
 * The floor's rows, beside Prosody's whole CPU per message in the same run: one send per commit against
 * Prosody at the fixed rate (where each message commits alone), 64 against Prosody saturated.
 */
export async function storeFloorRows(content: string, prosody: { fixedMicros: number; saturatedMicros: number }, quick: boolean): Promise<BenchRow[]> {
  const alone = await storeFloor(content, 1, quick ? 1000 : 3000);
  const grouped = await storeFloor(content, 64, quick ? 5000 : 20_000);
  console.log(`  the store alone: ${alone.cpuMicros.toFixed(0)} µs a message committed alone, ${grouped.cpuMicros.toFixed(0)} µs 64 to a commit`);
  const row = (name: string, ours: number, bare: number): BenchRow => ({
    suite: 'relay', name, unit: 'µs', ours, bare, ratio: ours / bare,
    goal: `informational: the price of durability; above Prosody's whole CPU per message (${bare.toFixed(0)} µs), no relay built on this store can meet the CPU goal`,
  });
  return [
    row('the store alone (SQLCipher, fsynced, 2 audit records): CPU per message, one send per commit', alone.cpuMicros, prosody.fixedMicros),
    row('the store alone: CPU per message, 64 sends per commit (as when saturated)', grouped.cpuMicros, prosody.saturatedMicros),
  ];
}
