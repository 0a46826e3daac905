import type { RelayStore } from '../storage/RelayStore';
import { largest, rememberCheckpoint } from './signedCheckpoints';
import { lastTrustedCheckpoint, relayPublicKeys, signedByRelay } from './trustedCheckpoints';

/**
 * Where the relay remembers the checkpoints it signed: its data directory (server/audit/signedCheckpoints.ts),
 * or a store that several relays share (PostgreSQL), where every instance sees every other's.
 */
export interface CheckpointMemory {
  last(origin: string): Promise<{ readonly size: number; readonly root: string; readonly at: number } | null>;
  remember(entry: { origin: string; size: number; root: string; note: string; at: number }): Promise<void>;
}

/**
 * The relay's memory: the store's when it keeps one, else the data directory's. Either way only entries signed
 * by the relay's keys (the data directory's current and retired ones) are believed (trustedCheckpoints.ts).
 */
export function checkpointMemory(dataDir: string, store?: Pick<RelayStore, 'rememberCheckpoint' | 'signedCheckpoints'>): CheckpointMemory {
  const remember = store?.rememberCheckpoint?.bind(store);
  const recall = store?.signedCheckpoints?.bind(store);
  if (remember && recall) {
    // The database's only: it rolls back with the log (a pg_restore, a failover to a standby that lagged), so a
    // rollback is seen by the compliance officer's bundles, not here (docs/deployment.md, section 11). Also
    // believing this instance's file would refuse every export after a restore, and nothing on PostgreSQL
    // begins a new log after one yet.
    return {
      last: async (origin) => {
        const keys = relayPublicKeys(dataDir);
        return largest((await recall(origin)).filter((entry) => signedByRelay(entry, keys)));
      },
      remember,
    };
  }
  return { last: async (origin) => lastTrustedCheckpoint(dataDir, origin), remember: async (entry) => rememberCheckpoint(dataDir, entry) };
}
