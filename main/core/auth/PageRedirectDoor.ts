/**
 * The browser harness's way back from the identity provider (development and tests; issue 18): there is no
 * system browser to open, so the UI page navigates to the provider itself, and the provider sends it back to a
 * page of the harness (`redirectUri`, registered at the relay as one of its `harnessRedirectUris`). The harness
 * hands that request's query to `deliver`, which settles the sign-in waiting for its state, exactly as the
 * desktop app's loopback listener does (LoopbackRedirect); the harness then sends the page back to the app.
 */
import { realScheduler, type Scheduler } from '../Clock';
import { RoundsError } from '../errors';
import { sameText, type RedirectResult } from './LoopbackRedirect';
import type { SsoRedirectDoor, SsoReturn } from './SsoRedirectDoor';

interface Waiting {
  state: string | undefined;
  /** Settles the sign-in (once) and stops waiting for it. */
  end: (outcome: RedirectResult | Error) => void;
}

export class PageRedirectDoor implements SsoRedirectDoor {
  readonly opens = 'page';
  readonly #waiting = new Set<Waiting>();
  readonly #timeoutMs: number;
  readonly #scheduler: Scheduler;

  /** `redirectUri`: the harness page the provider sends the browser back to. */
  constructor(readonly redirectUri: string, options: { timeoutMs?: number; scheduler?: Scheduler } = {}) {
    this.#timeoutMs = options.timeoutMs ?? 10 * 60_000;
    this.#scheduler = options.scheduler ?? realScheduler;
  }

  prepare(): Promise<SsoReturn> {
    let settle!: (result: RedirectResult) => void;
    let fail!: (error: Error) => void;
    const result = new Promise<RedirectResult>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    result.catch(() => undefined);
    const entry: Waiting = {
      state: undefined,
      end: (outcome) => {
        timer.cancel();
        if (!this.#waiting.delete(entry)) return;
        if (outcome instanceof Error) fail(outcome);
        else settle(outcome);
      },
    };
    const timer = this.#scheduler.after(this.#timeoutMs, () => entry.end(new RoundsError('SSO_TIMED_OUT', 'the sign-in with your organisation was not finished in time; start it again')));
    this.#waiting.add(entry);
    return Promise.resolve({
      redirectUri: this.redirectUri,
      open: async () => undefined,
      expect: (state: string) => {
        entry.state = state;
        return result;
      },
      cancel: () => entry.end(new RoundsError('SSO_CANCELLED', 'the sign-in with your organisation was cancelled')),
    });
  }

  /**
   * The query of a request to `redirectUri`: true if it carried the state of a sign-in waiting here (which it
   * then settles: with the code, or with the provider's refusal), false otherwise (nothing happens).
   */
  deliver(query: URLSearchParams): boolean {
    const state = query.get('state') ?? '';
    for (const entry of this.#waiting) {
      if (entry.state === undefined || !sameText(entry.state, state)) continue;
      const code = query.get('code');
      const iss = query.get('iss');
      const description = query.get('error_description');
      entry.end(code
        ? { kind: 'code', code, state, ...(iss ? { iss } : {}) }
        : { kind: 'refused', error: query.get('error') ?? 'no code', ...(description ? { description: description.slice(0, 300) } : {}) });
      return true;
    }
    return false;
  }
}
