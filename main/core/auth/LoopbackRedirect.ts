/**
 * The app's end of a sign-in with the hospital's identity provider (issue 18), as RFC 8252 says a native app
 * does it: the system browser (never a web view inside the app, where the app could read the password) goes to
 * the provider, and the provider sends it back to a listener of the app's own on the loopback interface, on a
 * port chosen at random for this one sign-in. The redirect carries the authorization code: a secret, never
 * logged. It is worth nothing without the PKCE verifier the app keeps (pkce.ts) and the state the relay keeps.
 *
 * The listener answers one redirect that carries this sign-in's state, then closes; anything else (a favicon,
 * another path, a wrong state) gets a plain 404 and is otherwise ignored, so a page that guesses the port can
 * neither finish nor end the sign-in. It gives up after `timeoutMs`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { realScheduler, type Cancellable, type Scheduler } from '../Clock';

/** What the provider sent back: a code (and the issuer, RFC 9207), or its refusal. */
export type RedirectResult =
  | { readonly kind: 'code'; readonly code: string; readonly state: string; readonly iss?: string }
  | { readonly kind: 'refused'; readonly error: string; readonly description?: string };

export class LoopbackRedirectError extends Error {
  constructor(readonly code: 'SSO_TIMED_OUT' | 'SSO_CANCELLED' | 'SSO_LISTENER_FAILED', message: string) {
    super(message);
    this.name = 'LoopbackRedirectError';
  }
}

/** The page the browser shows once the app has what it needs: nothing about the person, nothing to click. */
const DONE_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Rounds</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{font:16px system-ui,sans-serif;margin:15vh auto;max-width:32rem;color:#1f2933}h1{font-size:1.4rem}</style></head>
<body><h1>You can close this tab</h1><p>Return to Rounds to finish signing in.</p></body></html>`;
const REFUSED_PAGE = DONE_PAGE.replace('You can close this tab', 'Sign-in was not completed').replace('to finish signing in.', 'to try again.');

export class LoopbackRedirect {
  readonly #server: Server;
  readonly #path: string;
  #state: string | undefined;
  #settle: ((result: RedirectResult) => void) | undefined;
  #fail: ((error: Error) => void) | undefined;
  #timer: Cancellable | undefined;
  readonly result: Promise<RedirectResult>;
  /** Where the provider sends the browser back: register it with the relay at /v1/sso/begin. */
  readonly redirectUri: string;

  private constructor(server: Server, path: string, timeoutMs: number, scheduler: Scheduler) {
    this.#server = server;
    this.#path = path;
    this.redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
    this.result = new Promise<RedirectResult>((resolve, reject) => {
      this.#settle = resolve;
      this.#fail = reject;
    });
    this.result.catch(() => undefined);
    this.#timer = scheduler.after(timeoutMs, () => this.#end(new LoopbackRedirectError('SSO_TIMED_OUT', 'the sign-in with your organisation was not finished in time; start it again')));
    server.on('request', (request: IncomingMessage, response: ServerResponse) => this.#answer(request, response));
  }

  /**
   * Listens on 127.0.0.1, a random port, `path` (a random one by default). Register `redirectUri` with the relay (/v1/sso/begin),
   * then tell the listener the state the relay answered (`expect`): only a redirect carrying it is taken.
   */
  static async listen(options: { timeoutMs?: number; scheduler?: Scheduler; path?: string } = {}): Promise<LoopbackRedirect> {
    const server = createServer();
    // A fixed path where the provider matches the path exactly (Entra ID, Okta: only the port may vary).
    const path = options.path ?? `/rounds/sso/${randomBytes(9).toString('base64url')}`;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error) => reject(new LoopbackRedirectError('SSO_LISTENER_FAILED', `cannot listen for the sign-in on this computer: ${(error as NodeJS.ErrnoException).code ?? error.message}`)));
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new LoopbackRedirect(server, path, options.timeoutMs ?? 5 * 60_000, options.scheduler ?? realScheduler);
  }


  /** The state of this sign-in (the relay's): until it is known, every request is refused. */
  expect(state: string): Promise<RedirectResult> {
    this.#state = state;
    return this.result;
  }

  /** The person gave up (closed the dialog): the listener closes and `result` rejects. */
  cancel(): void {
    this.#end(new LoopbackRedirectError('SSO_CANCELLED', 'the sign-in with your organisation was cancelled'));
  }

  #answer(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const state = url.searchParams.get('state') ?? '';
    if (request.method !== 'GET' || url.pathname !== this.#path || this.#state === undefined || !sameText(state, this.#state)) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end('Not found');
      return;
    }
    const code = url.searchParams.get('code');
    const error = url.searchParams.get('error');
    const page = code ? DONE_PAGE : REFUSED_PAGE;
    // Connection: close, so the listener can close at once; no-store: the code must not stay in a cache.
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', connection: 'close', 'referrer-policy': 'no-referrer' }).end(page);
    const iss = url.searchParams.get('iss');
    if (code) this.#end({ kind: 'code', code, state, ...(iss ? { iss } : {}) });
    else {
      const description = url.searchParams.get('error_description');
      this.#end({ kind: 'refused', error: error ?? 'no code', ...(description ? { description: description.slice(0, 300) } : {}) });
    }
  }

  #end(outcome: RedirectResult | Error): void {
    this.#timer?.cancel();
    this.#server.close();
    this.#server.closeAllConnections?.();
    if (outcome instanceof Error) this.#fail?.(outcome);
    else this.#settle?.(outcome);
    this.#settle = undefined;
    this.#fail = undefined;
  }
}

/** Compares a state from outside with ours in constant time. */
export function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
