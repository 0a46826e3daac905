import { useState } from 'react';
import { explain, type ErrorScreen } from './errors';

/** Runs a user action: busy while it runs, and its failure in plain words for `screen` (see errors.ts). */
export function useAction(screen?: ErrorScreen) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = async (work: () => Promise<unknown>, onFailure?: () => void) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (e) {
      setError(explain(e, screen));
      onFailure?.();
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, setError, run };
}
