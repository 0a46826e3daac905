import { describe, expect, it, vi } from 'vitest';
import { useTempDirs } from '../../../test/fixtures/tempDirs';
import { FAST_KDF } from '../../../test/fixtures/workstation';
import { RoundsApp } from './RoundsApp';

describe('the command boundary', () => {
  const tempDir = useTempDirs();

  it('answers INTERNAL, never the value, when a handler returns something its contract does not allow', async () => {
    const app = new RoundsApp({ dataDir: tempDir(), profiles: { kdf: FAST_KDF } });
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      // A handler that drifted: session.state carrying a field and a phase the UI was never promised.
      vi.spyOn(app, 'state').mockReturnValue({ phase: 'haunted', patient: 'J. Smith, bed 12' } as never);
      const result = await app.invoke('session.state', {});
      expect(result).toEqual({ ok: false, error: { code: 'INTERNAL', message: expect.any(String) } });
      expect(JSON.stringify(result)).not.toContain('J. Smith');
      expect(logged.mock.calls.join(' ')).toMatch(/session\.state returned what its contract does not allow/);
      vi.mocked(app.state).mockRestore();
      expect(await app.invoke('session.state', {})).toEqual({ ok: true, value: { phase: 'signedOut', profiles: [] } });
    } finally {
      logged.mockRestore();
      await app.close();
    }
  });
});
