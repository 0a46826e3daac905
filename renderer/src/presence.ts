import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from 'react';
import type { UserId } from '../../shared/ids';
import type { Presence } from '../../shared/wire/presence';
import type { Api } from './api';

/** How often the statuses on screen are read again (a relay that pushes changes shows them at once; this is the fallback). */
export const PRESENCE_REFRESH_MS = 60_000;

/** The statuses the main window knows, and how to ask for more (a picker showing colleagues not yet read). */
export interface PresenceDirectory {
  readonly of: (userId: string) => Presence | undefined;
  /** Reads these colleagues' statuses now (at most once per refresh for the same ones). */
  readonly want: (userIds: readonly string[]) => void;
  /** Reads everything on screen again (after the user changed their own status, opening a conversation). */
  readonly refresh: () => void;
}

export const PresenceContext = createContext<PresenceDirectory>({ of: () => undefined, want: () => undefined, refresh: () => undefined });

export const usePresenceDirectory = (): PresenceDirectory => useContext(PresenceContext);

/**
 * The statuses of `userIds` (conversation peers and members, the directory) and the user's own, read when
 * they change, when asked, and every minute, and taken as the relay pushes them (`presence` events); a failed
 * read keeps what is on screen.
 */
export function usePresence(api: Api, userIds: readonly string[]): PresenceDirectory & { readonly version: number } {
  const [known, setKnown] = useState<ReadonlyMap<string, Presence>>(new Map());
  const extra = useRef(new Set<string>());
  const key = [...new Set(userIds)].sort().join(',');

  const read = useCallback(async (ids: readonly string[]) => {
    try {
      const list = await api.call('presence.get', { userIds: ids.slice(0, 500) as UserId[] });
      setKnown((old) => {
        const next = new Map(old);
        for (const p of list) next.set(p.userId, p);
        return next;
      });
    } catch {
      // Offline or locked: the statuses on screen stay until the next read.
    }
  }, [api]);

  const refresh = useCallback(() => void read([...key.split(',').filter(Boolean), ...extra.current]), [read, key]);

  useEffect(() => api.subscribe((event) => {
    if (event.type !== 'presence') return;
    setKnown((old) => new Map(old).set(event.presence.userId, event.presence));
  }), [api]);

  useEffect(() => {
    refresh();
    const timer = setInterval(refresh, PRESENCE_REFRESH_MS);
    return () => clearInterval(timer);
  }, [refresh]);

  const want = useCallback((ids: readonly string[]) => {
    const fresh = ids.filter((id) => !extra.current.has(id) && !key.includes(id));
    if (fresh.length === 0) return;
    for (const id of fresh) extra.current.add(id);
    void read(fresh);
  }, [read, key]);

  return useMemo(() => ({ of: (userId: string) => known.get(userId), want, refresh, version: known.size }), [known, want, refresh]);
}
