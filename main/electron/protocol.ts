import { protocol } from 'electron';
import { CONTENT_SECURITY_POLICY } from '../core/web/contentSecurityPolicy';
import { serveStatic } from '../core/web/staticFiles';
import { APP_HOST, APP_SCHEME } from './security';

/** Must run before the app is ready: app:// is a standard, secure origin (no file://, no remote content). */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);
}

/**
 * Serves the built renderer from `rendererDir` at app://rounds/, every response with the strict CSP.
 * Paths outside the directory, other hosts and unknown files get an error status, never a file.
 */
export function serveRenderer(rendererDir: string): void {
  protocol.handle(APP_SCHEME, (request) => respond(rendererDir, request.url));
}

export async function respond(rendererDir: string, url: string): Promise<Response> {
  const parsed = new URL(url);
  if (parsed.host !== APP_HOST) return new Response('not found', { status: 404, headers: { 'content-security-policy': CONTENT_SECURITY_POLICY } });
  return serveStatic(rendererDir, parsed.pathname, CONTENT_SECURITY_POLICY);
}
