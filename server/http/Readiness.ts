import type { RelayStore } from '../storage/RelayStore';

/** How long /readyz waits for the store: a stalled database makes a load balancer's check fail fast, not hang. */
export const READINESS_TIMEOUT_MS = 2000;

/** `work`'s value, or `late` thrown once `ms` pass without one (the work itself is not stopped: it is left to finish). */
export function withDeadline<T>(work: Promise<T>, ms: number, late: Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(late), ms);
    timer.unref();
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Why this relay instance should not be sent requests now (for /readyz, which a load balancer checks), or
 * undefined when it can serve them: not while it is shutting down, nor while its store says it cannot serve
 * (the database unreachable, its schema not this code's), fails to say, or does not answer in time.
 */
export async function notReadyReason(store: Pick<RelayStore, 'notReady'>, shuttingDown: () => boolean, timeoutMs = READINESS_TIMEOUT_MS): Promise<string | undefined> {
  if (shuttingDown()) return 'the relay is shutting down';
  const deadline = new Error(`the store did not answer within ${timeoutMs} ms`);
  try {
    return await withDeadline(store.notReady(), timeoutMs, deadline);
  } catch (error) {
    // /readyz is as public as the relay: a failure is named by its code, not its message (which may name hosts).
    if (error === deadline) return deadline.message;
    const code = (error as { code?: unknown }).code;
    return `the store's readiness check failed (${typeof code === 'string' ? code : (error as Error).name ?? 'error'})`;
  }
}
