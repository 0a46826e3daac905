import type { Event, WebContents } from 'electron';

/** The renderer is served from this origin only (a custom, secure, standard scheme: no file://). */
export const APP_SCHEME = 'app';
export const APP_HOST = 'rounds';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;

/** Only the app's own pages; anything else (a link, a dropped file, window.open) goes nowhere. */
export function isAppUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === `${APP_SCHEME}:` && parsed.host === APP_HOST;
  } catch {
    return false;
  }
}

/** Blocks navigation away from the app, new windows and webviews, for every web contents created. */
export function hardenContents(contents: WebContents): void {
  contents.on('will-navigate', (event: Event, url: string) => {
    if (!isAppUrl(url)) event.preventDefault();
  });
  contents.on('will-redirect', (event: Event, url: string) => {
    if (!isAppUrl(url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event: Event) => event.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}

/**
 * Permission requests from the renderer: none is granted. Notifications are shown by the main process
 * (which needs no permission); camera, microphone, location, clipboard reads and the rest are denied.
 */
export function allowPermission(_permission: string): boolean {
  return false;
}
