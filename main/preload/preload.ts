/**
 * The preload: the renderer's only door to the main process. It exposes exactly the contract of
 * `shared/contract.ts` (one `invoke` and one `subscribe`) through contextBridge; no ipcRenderer, no Node.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import type { RoundsBridge, UiEvent } from '../../shared/contract';
import { EVENT_CHANNEL, INVOKE_CHANNEL } from './channels';

const bridge: RoundsBridge = {
  invoke: (command, input) => ipcRenderer.invoke(INVOKE_CHANNEL, command, input),
  subscribe: (listener) => {
    const handler = (_event: IpcRendererEvent, payload: UiEvent) => listener(payload);
    ipcRenderer.on(EVENT_CHANNEL, handler);
    return () => {
      ipcRenderer.removeListener(EVENT_CHANNEL, handler);
    };
  },
};

contextBridge.exposeInMainWorld('rounds', bridge);
