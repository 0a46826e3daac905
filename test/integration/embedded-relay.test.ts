import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { startEmbeddedRelay } from '../../scripts/embeddedRelay';
import { removeDir, tempDataDir } from '../fixtures/relayProcess';

/*
 * `npm start` and `npm run web` on the same data directory twice: the profiles enrolled the first time keep
 * the relay's URL, so the embedded relay must come back on the same port (issue 14: they stayed offline).
 */
describe('the embedded relay across restarts', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach(removeDir));

  it('comes back on the port it had in the same data directory', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const first = await startEmbeddedRelay(dir, 0, true);
    await first.relay.close();
    const second = await startEmbeddedRelay(dir, 0, true);
    try {
      expect(second.url).toBe(first.url);
    } finally {
      await second.relay.close();
    }
  });

  it('takes a free port, and says why, when another program holds its old one; the old one is tried again next time', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const first = await startEmbeddedRelay(dir, 0, true);
    await first.relay.close();
    const port = Number(new URL(first.url).port);
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const second = await startEmbeddedRelay(dir, 0, true);
      await second.relay.close();
      expect(second.url).not.toBe(first.url);
      expect(warn.mock.calls.join(' ')).toContain(`port ${port} is in use`);
    } finally {
      warn.mockRestore();
      await new Promise((resolve) => squatter.close(resolve));
    }
    const third = await startEmbeddedRelay(dir, 0, true);
    await third.relay.close();
    expect(third.url).toBe(first.url);
  });

  it('ignores a port file naming a privileged port or no port, and a port file it cannot write does not stop it', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    writeFileSync(join(dir, 'embedded-relay.port'), '1\n');
    const first = await startEmbeddedRelay(dir, 0, true);
    await first.relay.close();
    expect(Number(new URL(first.url).port)).toBeGreaterThanOrEqual(1024);
    expect(readFileSync(join(dir, 'embedded-relay.port'), 'utf8').trim()).toBe(new URL(first.url).port);

    const odd = tempDataDir();
    dirs.push(odd);
    mkdirSync(join(odd, 'embedded-relay.port'));
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const second = await startEmbeddedRelay(odd, 0, true);
      await second.relay.close();
      expect(warn.mock.calls.join(' ')).toContain('could not remember its port');
    } finally {
      warn.mockRestore();
    }
  });
});
