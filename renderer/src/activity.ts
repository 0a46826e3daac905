import { useEffect } from 'react';
import type { Api } from './api';

/** How often, at most, input in the window is reported to the core's lock controller. */
const REPORT_EVERY_MS = 5_000;

/** Keyboard, mouse, touch and wheel input in the window keep the app from locking. */
export function useActivityReports(api: Api, active: boolean): void {
  useEffect(() => {
    if (!active) return;
    let last = 0;
    const report = () => {
      const now = Date.now();
      if (now - last < REPORT_EVERY_MS) return;
      last = now;
      void api.call('activity.report', {}).catch(() => undefined);
    };
    const events = ['keydown', 'pointerdown', 'touchstart', 'wheel'] as const;
    for (const e of events) window.addEventListener(e, report, { passive: true, capture: true });
    return () => {
      for (const e of events) window.removeEventListener(e, report, { capture: true });
    };
  }, [api, active]);
}
