import { useRef, useState } from 'react';
import { explain, type ErrorScreen } from './errors';

/**
 * Runs a user action: busy while it runs, and its failure in plain words for `screen` (see errors.ts). While one
 * runs, another `run` is ignored: a double click or a second Enter before the core answers does not do it twice
 * (the button shows `busy` too, but a second event can come before React draws it disabled).
 */
export function useAction(screen?: ErrorScreen) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const running = useRef(false);
  const run = async (work: () => Promise<unknown>, onFailure?: () => void) => {
    if (running.current) return;
    running.current = true;
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (e) {
      setError(explain(e, screen));
      onFailure?.();
    } finally {
      running.current = false;
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}
