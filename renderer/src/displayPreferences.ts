import { useCallback, useState } from 'react';

const COMPACT_KEY = 'rounds.compactMessages';

/**
 * How dense the message list is: a choice of this window's user about the screen, not a setting of the
 * profile (it carries nothing about anyone), so it is kept in the page's own storage.
 */
export function useCompactMessages(): [boolean, (compact: boolean) => void] {
  const [compact, setCompactState] = useState(() => read() === '1');
  const setCompact = useCallback((value: boolean) => {
    setCompactState(value);
    try {
      localStorage.setItem(COMPACT_KEY, value ? '1' : '0');
    } catch {
      // Storage unavailable: the choice lasts until the window reloads.
    }
  }, []);
  return [compact, setCompact];
}

function read(): string | null {
  try {
    return localStorage.getItem(COMPACT_KEY);
  } catch {
    return null;
  }
}
