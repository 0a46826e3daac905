import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/**
 * The Prometheus endpoint, on a listener of its own (`serve --metrics-port`): `GET /metrics` in the text
 * format, nothing else. Apart from the relay's listener so that it can stay on loopback (or a management
 * network) while the relay faces the wards: the figures tell an outsider how busy the relay is and how its
 * sign-ins fare. Plain HTTP: it carries no secrets and no ids.
 */
export class MetricsListener {
  private constructor(readonly url: string, readonly server: Server) {}

  /** Listens on `host`:`port` (0: a free port); resolves with the listener, its `url` the metrics' address. */
  static async start(registry: Registry, host: string, port: number): Promise<MetricsListener> {
    const server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      if (request.method !== 'GET' || path !== '/metrics') {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
        return;
      }
      registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n'),
      );
    });
    // A scraper that stops mid-request must not hold a socket for ever.
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return new MetricsListener(`http://${shown}:${address.port}/metrics`, server);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
