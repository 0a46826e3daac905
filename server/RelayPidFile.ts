import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigurationError } from './RelayServer';

/**
 * `relay.pid` in the data directory: which process serves it. One relay per data directory, and no restore
 * under a running relay. A file left by a relay that died (kill -9, power loss) names a process that is gone,
 * and is taken over.
 */
export const PID_FILE = 'relay.pid';

/** The pid of the relay serving `dataDir`, or null when none runs. */
export function runningRelay(dataDir: string): number | null {
  const path = join(dataDir, PID_FILE);
  if (!existsSync(path)) return null;
  const pid = Number(readFileSync(path, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

/** Claims the data directory for this process; returns the release. */
export function claimDataDirectory(dataDir: string): () => void {
  const other = runningRelay(dataDir);
  if (other !== null) throw new ConfigurationError(`another relay (pid ${other}) serves ${dataDir}; stop it first`);
  const path = join(dataDir, PID_FILE);
  writeFileSync(path, `${process.pid}\n`, { mode: 0o644 });
  return () => {
    if (existsSync(path) && readFileSync(path, 'utf8').trim() === String(process.pid)) rmSync(path);
  };
}
