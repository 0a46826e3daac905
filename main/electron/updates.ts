import type { OrgPolicy } from '../../shared/policy';

export interface Updater {
  setFeedURL(options: { provider: 'generic'; url: string }): void;
  autoDownload: boolean;
  autoInstallOnAppQuit: boolean;
  on(event: 'update-available' | 'update-downloaded', listener: (info: { version: string }) => void): unknown;
  checkForUpdates(): Promise<unknown>;
}

/**
 * Updates as the org policy says. With `off` (the default) nothing is loaded and no update server is
 * ever contacted; otherwise electron-updater reads the hospital's own generic feed: `notify` tells the
 * user, `auto` downloads and installs on the next quit.
 */
export async function configureUpdates(policy: OrgPolicy, notify: (message: string) => void, load: () => Promise<Updater> = loadUpdater): Promise<Updater | null> {
  if (policy.updates === 'off' || !policy.updateFeedUrl) return null;
  const updater = await load();
  updater.setFeedURL({ provider: 'generic', url: policy.updateFeedUrl });
  updater.autoDownload = policy.updates === 'auto';
  updater.autoInstallOnAppQuit = policy.updates === 'auto';
  updater.on('update-available', (info) => notify(policy.updates === 'auto' ? `Rounds ${info.version} is being downloaded; it installs when Rounds restarts.` : `Rounds ${info.version} is available. Ask IT to install it.`));
  updater.on('update-downloaded', (info) => notify(`Rounds ${info.version} is ready and installs when Rounds restarts.`));
  await updater.checkForUpdates().catch(() => undefined);
  return updater;
}

async function loadUpdater(): Promise<Updater> {
  const module = await import('electron-updater');
  return module.autoUpdater as unknown as Updater;
}
