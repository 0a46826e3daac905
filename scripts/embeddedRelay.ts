import { auditKeySource } from '../server/audit/auditKey';
import { DEFAULT_CONFIG } from '../server/RelayConfig';
import { RelayServer, openStore } from '../server/RelayServer';

/** The relay inside `npm start` and the browser harness: its own data directory and audit key, loopback only. */
export async function startEmbeddedRelay(dataDir: string, port: number, quiet = false): Promise<{ relay: RelayServer; url: string }> {
  const relay = new RelayServer(openStore(dataDir), DEFAULT_CONFIG, undefined, quiet ? () => undefined : undefined);
  relay.auditKey = auditKeySource(dataDir).read;
  const url = (await relay.listen({ host: '127.0.0.1', port }, quiet ? 'silent' : 'warn')).replace('localhost', '127.0.0.1');
  return { relay, url };
}
