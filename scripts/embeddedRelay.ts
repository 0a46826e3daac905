import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { auditKeySource } from '../server/audit/auditKey';
import { DEFAULT_CONFIG } from '../server/RelayConfig';
import { RelayServer, openStore } from '../server/RelayServer';

/** Where the embedded relay keeps the port it last listened on (profiles keep the relay's URL, port and all). */
const PORT_FILE = 'embedded-relay.port';

/**
 * The relay inside `npm start` and the browser harness: its own data directory and audit key, loopback only.
 * Asked for any port (0), it takes the one it had last time in this data directory, so the profiles enrolled
 * against it still find it after a restart; if another program holds that port now, it takes a free one and
 * says so (those profiles stay offline until it is back on its old port).
 */
export async function startEmbeddedRelay(dataDir: string, port: number, quiet = false): Promise<{ relay: RelayServer; url: string }> {
  const store = openStore(dataDir);
  const remembered = port === 0 ? rememberedPort(dataDir) : undefined;
  let chosen = port;
  if (remembered !== undefined) {
    if (await portIsFree(remembered)) chosen = remembered;
    else console.warn(`The embedded relay's port ${remembered} is in use by another program; using another one. Profiles enrolled before stay offline until Rounds can use port ${remembered} again (stop that program and restart).`);
  }
  const relay = new RelayServer(store, DEFAULT_CONFIG, undefined, quiet ? () => undefined : undefined);
  relay.auditKey = auditKeySource(dataDir).read;
  const url = (await relay.listen({ host: '127.0.0.1', port: chosen }, quiet ? 'silent' : 'warn')).replace('localhost', '127.0.0.1');
  const bound = Number(new URL(url).port);
  if (port === 0 && remembered === undefined) writeFileSync(join(dataDir, PORT_FILE), `${bound}\n`, { mode: 0o600 });
  return { relay, url };
}

function rememberedPort(dataDir: string): number | undefined {
  try {
    const port = Number(readFileSync(join(dataDir, PORT_FILE), 'utf8').trim());
    return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
  } catch {
    return undefined;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ host: '127.0.0.1', port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}
