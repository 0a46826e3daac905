import { ipcMain, type WebContents, type WebFrameMain } from 'electron';
import type { RoundsApp } from '../core/app/RoundsApp';
import { EVENT_CHANNEL, INVOKE_CHANNEL } from '../preload/channels';
import { isAppUrl } from './security';

/**
 * The one IPC entry: `rounds:invoke` with a command name and its input. Calls from anything but the
 * app's own top frame are refused; the rest go to RoundsApp.invoke, which validates the name and the
 * input against the schemas of `shared/contract.ts` before the core sees them, and answers with a value
 * or a typed error.
 */
export function registerIpc(core: RoundsApp): void {
  ipcMain.handle(INVOKE_CHANNEL, async (event, command: unknown, input: unknown) => {
    if (!isTrustedFrame(event.senderFrame)) {
      return { ok: false, error: { code: 'INVALID_INPUT', message: 'calls are accepted only from the Rounds window' } };
    }
    return core.invoke(command, input);
  });
}

function isTrustedFrame(frame: WebFrameMain | null): boolean {
  return frame !== null && frame.parent === null && isAppUrl(frame.url);
}

/** Forwards the core's events to the window's renderer (through the preload's subscription). */
export function forwardEvents(core: RoundsApp, contents: () => WebContents | undefined): () => void {
  return core.subscribe((event) => {
    const target = contents();
    if (target && !target.isDestroyed()) target.send(EVENT_CHANNEL, event);
  });
}

/**
 * Reloads the window's page whenever the core leaves its unlocked session (a lock, or a sign-out): whatever the page
 * held of it (message text in JavaScript strings, decoded photos, React state) goes with the page's memory, which
 * JavaScript cannot zero itself (STYLE habit 5). The reloaded page asks the core its state and shows the lock screen.
 */
export function reloadOnLock(core: RoundsApp, contents: () => WebContents | undefined): () => void {
  let unlocked = false;
  return core.subscribe((event) => {
    if (event.type !== 'session') return;
    const was = unlocked;
    unlocked = event.state.phase === 'unlocked';
    const target = contents();
    if (was && !unlocked && target && !target.isDestroyed()) target.reload();
  });
}
