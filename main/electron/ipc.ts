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
