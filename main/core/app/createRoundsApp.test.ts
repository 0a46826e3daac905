import { describe, expect, it, vi } from 'vitest';
import { useTempDirs } from '../../../test/fixtures/tempDirs';
import { FAST_KDF } from '../../../test/fixtures/workstation';
import { DEFAULT_POLICY } from '../../../shared/policy';
import { ConfPreferences } from '../storage/Preferences';
import { createRoundsApp, type OsLockSignal, type Platform } from './createRoundsApp';

describe('the composition root', () => {
  const tempDir = useTempDirs();
  const bare = (dataDir: string): Platform => ({
    dataDir, policy: DEFAULT_POLICY, preferences: new ConfPreferences(dataDir),
    keyProtector: null, systemIdleSeconds: null, clipboard: null, notifications: null, osLockSignals: null, ssoDoor: null, attachmentDoor: null,
  });

  it('passes the OS\'s lock and suspend signals to the lock controller', async () => {
    let raise: (signal: OsLockSignal) => void = () => undefined;
    const app = createRoundsApp({ ...bare(tempDir()), osLockSignals: { subscribe: (listener) => (raise = listener) } }, { kdf: FAST_KDF });
    try {
      const osLocked = vi.spyOn(app.lockController, 'osLocked');
      const suspended = vi.spyOn(app.lockController, 'suspended');
      raise('osLocked');
      raise('suspended');
      expect([osLocked.mock.calls.length, suspended.mock.calls.length]).toEqual([1, 1]);
    } finally {
      await app.close();
    }
  });

  it('withdraws the notifications on screen whenever the session leaves the unlocked state', async () => {
    const sink = { show: vi.fn(), closeAll: vi.fn() };
    const app = createRoundsApp({ ...bare(tempDir()), notifications: sink }, { kdf: FAST_KDF });
    try {
      expect(await app.invoke('profile.switch', {})).toMatchObject({ ok: true, value: { phase: 'signedOut' } });
      expect(sink.closeAll).toHaveBeenCalled();
      expect(sink.show).not.toHaveBeenCalled();
    } finally {
      await app.close();
    }
  });
});
