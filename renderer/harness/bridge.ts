/**
 * The browser harness's stand-in for the Electron preload (development and tests only; never part of the
 * app bundle): `window.rounds` with the same `invoke` and `subscribe`, carried over a loopback WebSocket
 * to a real main/core for the profile named in the page's `?profile=` parameter.
 */
import { BridgeReplySchema, type BridgeRequest } from '../../shared/bridge';
import type { CommandName, CommandResult, RoundsBridge, UiEvent } from '../../shared/contract';

const profile = new URLSearchParams(location.search).get('profile') ?? 'default';
const socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/bridge?profile=${encodeURIComponent(profile)}`);
const pending = new Map<number, (result: CommandResult<CommandName>) => void>();
const listeners = new Set<(event: UiEvent) => void>();
const queue: string[] = [];
let nextId = 1;
let closed = false;

socket.addEventListener('open', () => {
  for (const frame of queue.splice(0)) socket.send(frame);
});
socket.addEventListener('message', (message: MessageEvent<string>) => {
  let frame;
  try {
    frame = BridgeReplySchema.parse(JSON.parse(message.data));
  } catch {
    console.error('the harness sent a frame outside the contract; ignored');
    return;
  }
  if (frame.type === 'result') {
    pending.get(frame.id)?.(frame.result as CommandResult<CommandName>);
    pending.delete(frame.id);
  } else {
    for (const listener of listeners) listener(frame.event);
  }
});
socket.addEventListener('close', () => {
  closed = true;
  for (const resolve of pending.values()) resolve({ ok: false, error: { code: 'UNREACHABLE', message: 'the development harness stopped' } });
  pending.clear();
});

const bridge: RoundsBridge = {
  invoke: (command, input) => new Promise((resolve) => {
    if (closed) {
      resolve({ ok: false, error: { code: 'UNREACHABLE', message: 'the development harness stopped' } });
      return;
    }
    const id = nextId++;
    pending.set(id, resolve as (result: CommandResult<CommandName>) => void);
    const frame = JSON.stringify({ id, command, input } satisfies BridgeRequest);
    if (socket.readyState === WebSocket.OPEN) socket.send(frame);
    else queue.push(frame);
  }),
  subscribe: (listener) => {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};

window.rounds = bridge;
