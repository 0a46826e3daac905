import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditKeySource } from '../server/audit/auditKey';
import { DEFAULT_CONFIG, type RelayConfig } from '../server/RelayConfig';
import { RelayServer } from '../server/RelayServer';
import { openStore } from '../server/openStore';

/** Where the embedded relay keeps the port it last listened on (profiles keep the relay's URL, port and all). */
const PORT_FILE = 'embedded-relay.port';

/**
 * The relay inside `npm start` and the browser harness: its own data directory and audit key, loopback only.
 * Asked for any port (0), it takes the one it had last time in this data directory, so the profiles enrolled
 * against it still find it after a restart; if another program holds that port now, it takes a free one and
 * says so (those profiles stay offline until it is back on its old port).
 */
export async function startEmbeddedRelay(dataDir: string, port: number, quiet = false, config: RelayConfig = DEFAULT_CONFIG): Promise<{ relay: RelayServer; url: string }> {
  const store = openStore(dataDir);
  const remembered = port === 0 ? rememberedPort(dataDir) : undefined;
  const relay = new RelayServer(store, config, undefined, quiet ? () => undefined : undefined);
  relay.auditKey = auditKeySource(dataDir).read;
  const listen = async (at: number) => (await relay.listen({ host: '127.0.0.1', port: at }, quiet ? 'silent' : 'warn')).replace('localhost', '127.0.0.1');
  let url: string;
  if (remembered === undefined) {
    url = await listen(port);
  } else {
    try {
      url = await listen(remembered);
    } catch (error) {
      // Taken meanwhile, or not ours to use: a free port now, the remembered one again next time.
      const why = (error as { code?: string }).code === 'EADDRINUSE' ? 'is in use by another program' : `cannot be used (${(error as { code?: string }).code ?? String(error)})`;
      console.warn(`The embedded relay's port ${remembered} ${why}; using another one. Profiles enrolled before stay offline until Rounds can use port ${remembered} again (free it and restart).`);
      url = await listen(0);
    }
  }
  if (port === 0 && remembered === undefined) rememberPort(dataDir, Number(new URL(url).port));
  return { relay, url };
}

/** The port last used, if the file names one an unprivileged program may take (1024 and up). */
function rememberedPort(dataDir: string): number | undefined {
  try {
    const port = Number(readFileSync(join(dataDir, PORT_FILE), 'utf8').trim());
    return Number.isInteger(port) && port >= 1024 && port < 65536 ? port : undefined;
  } catch {
    return undefined;
  }
}

function rememberPort(dataDir: string, port: number): void {
  const file = join(dataDir, PORT_FILE);
  try {
    rmSync(file, { force: true }); // a link in its place goes (never its target); the new file is ours
    writeFileSync(file, `${port}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    console.warn(`The embedded relay could not remember its port in ${file} (${(error as { code?: string }).code ?? String(error)}); after a restart it may listen on another one.`);
  }
}
