/**
 * How one door of the app (the Electron shell, the browser harness) gets the user's browser to the hospital's
 * identity provider and the redirect back to the core (issue 18). Everything else about a sign-in with the
 * provider (PKCE, the relay's begin and complete, the new profile) is the same core code for both doors
 * (main/core/app/SsoSignIns.ts); only this differs:
 * - the desktop app (RFC 8252): a loopback listener of its own on a random port, and the system browser opened
 *   through the shell's `openExternal` (SystemBrowserDoor below);
 * - the browser harness: the page itself navigates to the provider, which sends it back to a page of the
 *   harness that hands the redirect to the core (PageRedirectDoor.ts).
 * The redirect carries the authorization code: a secret, never logged.
 */
import { RoundsError } from '../errors';
import { LoopbackRedirect, LoopbackRedirectError, type RedirectResult } from './LoopbackRedirect';

/** One sign-in's way there and back. */
export interface SsoReturn {
  /** Where the provider sends the browser back: given to the relay at /v1/sso/begin. */
  readonly redirectUri: string;
  /** Sends the browser to the provider (the system browser); a no-op where the page navigates itself. */
  open(authorizationUrl: string): Promise<void>;
  /** The redirect carrying this state (the relay's): the code, or the provider's refusal. */
  expect(state: string): Promise<RedirectResult>;
  /** The person gave up: `expect` rejects with SSO_CANCELLED. */
  cancel(): void;
}

export interface SsoRedirectDoor {
  /** `systemBrowser`: the core opens the browser; `page`: the UI page navigates to the authorization URL itself. */
  readonly opens: 'systemBrowser' | 'page';
  /** A way there and back for one sign-in. */
  prepare(): Promise<SsoReturn>;
}

/** The shell's hook into the operating system: open a URL in the user's default browser (Electron's shell.openExternal). */
export type OpenExternal = (url: string) => Promise<void>;

/**
 * The path of the desktop app's loopback redirect URI, `http://127.0.0.1:<any port>/callback`: what the hospital
 * registers at its provider as `http://127.0.0.1/callback` (providers match loopback URIs on any port, RFC 8252
 * section 7.3, but on the exact path).
 */
export const DESKTOP_REDIRECT_PATH = '/callback';

/** The desktop app's door: a loopback listener (LoopbackRedirect) and the system browser. */
export class SystemBrowserDoor implements SsoRedirectDoor {
  readonly opens = 'systemBrowser';
  readonly #openExternal: OpenExternal;
  readonly #timeoutMs: number | undefined;

  constructor(openExternal: OpenExternal, options: { timeoutMs?: number } = {}) {
    this.#openExternal = openExternal;
    this.#timeoutMs = options.timeoutMs;
  }

  async prepare(): Promise<SsoReturn> {
    const listener = await LoopbackRedirect.listen({ path: DESKTOP_REDIRECT_PATH, ...(this.#timeoutMs === undefined ? {} : { timeoutMs: this.#timeoutMs }) }).catch((error: unknown) => {
      throw asRoundsError(error);
    });
    return {
      redirectUri: listener.redirectUri,
      open: async (url) => {
        // Only the provider's http(s) URL the relay answered with ever reaches the operating system.
        if (!/^https?:\/\//.test(url)) throw new RoundsError('SSO_UNAVAILABLE', 'the relay answered with an authorization URL that is not http(s)');
        try {
          await this.#openExternal(url);
        } catch (error) {
          listener.cancel();
          throw new RoundsError('SSO_UNAVAILABLE', 'the web browser could not be opened for the sign-in', { cause: error });
        }
      },
      expect: (state) => listener.expect(state).catch((error: unknown) => {
        throw asRoundsError(error);
      }),
      cancel: () => listener.cancel(),
    };
  }
}

/** The listener's errors as the core's (their codes are the same). */
export function asRoundsError(error: unknown): unknown {
  return error instanceof LoopbackRedirectError ? new RoundsError(error.code, error.message, { cause: error }) : error;
}
