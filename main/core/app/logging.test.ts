import { describe, expect, it, vi } from 'vitest';
import { useTempDirs } from '../../../test/fixtures/tempDirs';
import { FAST_KDF } from '../../../test/fixtures/workstation';
import { RoundsApp } from './RoundsApp';

describe('the logger passed in', () => {
  const tempDir = useTempDirs();

  it('receives what fails in the background and in commands, by code and message only; nothing goes to the console', async () => {
    const logged: string[] = [];
    const app = new RoundsApp({ dataDir: tempDir(), profiles: { kdf: FAST_KDF }, logger: { error: (message) => logged.push(message) } });
    const consoleError = vi.spyOn(console, 'error');
    try {
      app.subscribe(() => {
        throw new Error('a listener that broke');
      });
      // A state event goes to the listener, which throws: the command still answers.
      expect(await app.invoke('profile.switch', {})).toMatchObject({ ok: true, value: { phase: 'signedOut' } });
      expect(logged).toEqual([expect.stringMatching(/^UI event listener failed: .*a listener that broke/)]);
      // A handler that throws something unexpected: INTERNAL for the UI, the details for the log.
      vi.spyOn(app, 'state').mockImplementation(() => {
        throw new TypeError('unexpected');
      });
      expect(await app.invoke('session.state', {})).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
      expect(logged.at(-1)).toMatch(/^command failed: .*unexpected/);
      expect(consoleError).not.toHaveBeenCalled();
    } finally {
      vi.restoreAllMocks();
      await app.close();
    }
  });
});
