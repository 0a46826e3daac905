import { createContext, useContext, useState, type ReactNode } from 'react';

/** A set of keys the renderer remembers for a profile's session (ids and times only). */
export interface RememberedKeys {
  has(key: string): boolean;
  add(key: string): void;
}

/**
 * What the renderer remembers through one session of a profile: from opening it until it is signed out of (or
 * another profile opens). Locking does not end it: the main screen leaves the DOM on lock, and the desktop app
 * reloads its page (STYLE habit 5: what the page held of the session goes with it), but what it had already said
 * must not be said again after unlocking as if it were news. So it is kept in the window's sessionStorage (memory
 * only, gone with the window, kept across a reload), under the profile's id. Only ids and times are kept here, never
 * message text or names (PHI): nothing that a locked workstation must not hold.
 */
export interface SessionMemory {
  /** The acknowledgements of her urgent messages already said (useAcknowledgementAnnouncements): message, acknowledger and time. */
  readonly acknowledgementsSaid: RememberedKeys;
}

const PREFIX = 'rounds.session.';

/** The window's sessionStorage, or null where there is none (then memory lasts as long as the page). */
function sessionStore(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

/** Keys kept in memory and, where it can, in sessionStorage under `name`; a full or refused storage keeps them in memory. */
function rememberedKeys(name: string): RememberedKeys {
  const store = sessionStore();
  const keys = new Set<string>();
  try {
    const saved: unknown = JSON.parse(store?.getItem(name) ?? '[]');
    if (Array.isArray(saved)) for (const key of saved) if (typeof key === 'string') keys.add(key);
  } catch {
    // Unreadable: start empty (at worst something is said again).
  }
  return {
    has: (key) => keys.has(key),
    add: (key) => {
      keys.add(key);
      try {
        store?.setItem(name, JSON.stringify([...keys]));
      } catch {
        // Full or refused: remembered for as long as the page.
      }
    },
  };
}

/** Ends every profile's remembered session (the profile chooser: signed out, or switching user). */
function forgetSessions(): void {
  const store = sessionStore();
  if (!store) return;
  try {
    for (const name of Object.keys(store)) if (name.startsWith(PREFIX)) store.removeItem(name);
  } catch {
    // Nothing stored to forget.
  }
}

const SessionMemoryContext = createContext<SessionMemory | null>(null);

/**
 * One session's memory for everything inside it: App keys it by the profile (null on the profile chooser, which
 * ends every session), so a new session starts empty.
 */
export function SessionMemoryScope({ profileId, children }: { profileId: string | null; children: ReactNode }) {
  const [memory] = useState<SessionMemory>(() => {
    if (profileId === null) forgetSessions();
    return { acknowledgementsSaid: profileId === null ? rememberedKeys(`${PREFIX}none`) : rememberedKeys(`${PREFIX}${profileId}.acknowledgementsSaid`) };
  });
  return <SessionMemoryContext.Provider value={memory}>{children}</SessionMemoryContext.Provider>;
}

export function useSessionMemory(): SessionMemory {
  const memory = useContext(SessionMemoryContext);
  if (!memory) throw new Error('useSessionMemory is used outside a SessionMemoryScope: what it remembers would be lost on lock');
  return memory;
}
