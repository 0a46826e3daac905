import { describe, expect, it } from 'vitest';
import { findElectronBinary } from '../../scripts/electronBinary';
import { titleUnless } from '../fixtures/skipReason';

/*
 * The packaged shell for real: Playwright's `_electron` starts the built app against a local relay,
 * enrolls, locks and unlocks. It needs an Electron binary, which machines without internet do not have
 * (the npm package installs, its binary download does not); there it is skipped and says why.
 */
const electron = findElectronBinary();

describe.skipIf(!electron.path)(titleUnless('the Electron app (Playwright _electron)', electron.path === null ? electron.reason : null), () => {
  it('starts, enrolls against a local relay, locks and unlocks', async () => {
    const { _electron } = await import('playwright-core');
    const { buildApp, OUT_DIR } = await import('../../scripts/build');
    const { RelayProcess, addUser, removeDir, tempDataDir, rememberTotpSecret, nextTotp } = await import('../fixtures/relayProcess');
    const { PASSWORD, PASSPHRASE } = await import('../fixtures/workstation');
    await buildApp();
    const relayDir = tempDataDir();
    const userData = tempDataDir();
    const relay = await RelayProcess.start(relayDir);
    const app = await _electron.launch({ executablePath: electron.path!, args: [`${OUT_DIR}/main.cjs`, `--user-data-dir=${userData}`] });
    try {
      const page = await app.firstWindow();
      expect(await page.title()).toBe('Rounds');
      await page.getByLabel('Relay URL').fill(relay.url);
      await page.getByLabel('Username').fill('alice');
      await page.getByLabel('Enrollment code').fill(addUser(relayDir, 'alice', 'Dr. Alice Moreau'));
      await page.getByRole('button', { name: 'Continue' }).click();
      rememberTotpSecret('alice', (await page.getByTestId('totp-secret').textContent())!.replace(/\s/g, ''));
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
      await page.getByLabel('Confirm passphrase').fill(PASSPHRASE);
      await page.getByLabel('One-time code').fill(await nextTotp('alice'));
      await page.getByRole('button', { name: 'Finish enrollment' }).click();
      // The shell reloads the page on lock (reloadOnLock): the lock screen to type into is the reloaded page's.
      const reloaded = page.waitForEvent('load');
      await page.getByRole('button', { name: 'Lock now' }).click();
      await reloaded;
      await page.getByLabel('Passphrase').fill(PASSPHRASE);
      await page.getByRole('button', { name: 'Unlock' }).click();
      await page.getByRole('button', { name: 'Lock now' }).waitFor({ timeout: 30_000 });
    } finally {
      await app.close();
      await relay.stop();
      removeDir(relayDir);
      removeDir(userData);
    }
  }, 180_000);
});
