/** IPC channel names shared by the main process and the preload (nothing else crosses). */
export const INVOKE_CHANNEL = 'rounds:invoke';
export const EVENT_CHANNEL = 'rounds:event';
