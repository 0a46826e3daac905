import type { OrgPolicy } from '../../shared/policy';

export interface Updater {
  setFeedURL(options: { provider: 'generic'; url: string }): void;
  autoDownload: boolean;
  autoInstallOnAppQuit: boolean;
  on(event: 'update-available' | 'update-downloaded', listener: (info: { version: string }) => void): unknown;
  checkForUpdates(): Promise<unknown>;
}

/** Workstations run for days: the feed is read again this often. */
export const UPDATE_CHECK_INTERVAL_MS = 4 * 3600_000;

const everyInterval = (check: () => void, ms: number) => void setInterval(check, ms).unref();

/**
 * Updates as the org policy says. With `off` (the default) nothing is loaded and no update server is
 * ever contacted; otherwise electron-updater reads the hospital's own generic feed at start and every
 * few hours: `notify` tells the user (once per version), `auto` downloads and installs on the next quit.
 */
export async function configureUpdates(policy: OrgPolicy, notify: (message: string) => void, load: () => Promise<Updater> = loadUpdater, every: (check: () => void, ms: number) => void = everyInterval): Promise<Updater | null> {
  if (policy.updates === 'off' || !policy.updateFeedUrl) return null;
  const updater = await load();
  updater.setFeedURL({ provider: 'generic', url: policy.updateFeedUrl });
  updater.autoDownload = policy.updates === 'auto';
  updater.autoInstallOnAppQuit = policy.updates === 'auto';
  const told = new Set<string>();
  const once = (key: string, message: string) => {
    if (told.has(key)) return;
    told.add(key);
    notify(message);
  };
  updater.on('update-available', (info) => once(`available ${info.version}`, policy.updates === 'auto' ? `Rounds ${info.version} is being downloaded; it installs when Rounds restarts.` : `Rounds ${info.version} is available. Ask IT to install it.`));
  updater.on('update-downloaded', (info) => once(`downloaded ${info.version}`, `Rounds ${info.version} is ready and installs when Rounds restarts.`));
  // A feed that cannot be reached is tried again at the next interval; it never stops the app.
  const check = () => void updater.checkForUpdates().catch(() => undefined);
  await updater.checkForUpdates().catch(() => undefined);
  every(check, UPDATE_CHECK_INTERVAL_MS);
  return updater;
}

async function loadUpdater(): Promise<Updater> {
  const module = await import('electron-updater');
  return module.autoUpdater as unknown as Updater;
}
