import { createContext, useContext, useState, type ReactNode } from 'react';

/**
 * What the renderer remembers through one session of a profile: from opening it until it is signed out of (or
 * another profile opens). Locking does not end it: the main screen leaves the DOM on lock, and with it whatever it
 * held, but what it had already said must not be said again after unlocking as if it were news. Only ids and times
 * are kept here, never message text or names (PHI): nothing that a locked workstation must not hold.
 */
export interface SessionMemory {
  /** The acknowledgements of her urgent messages already said (useAcknowledgementAnnouncements): message, acknowledger and time. */
  readonly acknowledgementsSaid: Set<string>;
}

const SessionMemoryContext = createContext<SessionMemory | null>(null);

/** One session's memory for everything inside it: App keys it by the profile's session, so a new session starts empty. */
export function SessionMemoryScope({ children }: { children: ReactNode }) {
  const [memory] = useState<SessionMemory>(() => ({ acknowledgementsSaid: new Set() }));
  return <SessionMemoryContext.Provider value={memory}>{children}</SessionMemoryContext.Provider>;
}

export function useSessionMemory(): SessionMemory {
  const memory = useContext(SessionMemoryContext);
  if (!memory) throw new Error('useSessionMemory is used outside a SessionMemoryScope: what it remembers would be lost on lock');
  return memory;
}
