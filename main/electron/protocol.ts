import { protocol } from 'electron';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, relative, isAbsolute } from 'node:path';
import { APP_HOST, APP_SCHEME, CONTENT_SECURITY_POLICY } from './security';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

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
  const headers = { 'content-security-policy': CONTENT_SECURITY_POLICY, 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' };
  const parsed = new URL(url);
  if (parsed.host !== APP_HOST) return new Response('not found', { status: 404, headers });
  let path: string;
  try {
    path = decodeURIComponent(parsed.pathname === '/' ? '/index.html' : parsed.pathname);
  } catch {
    return new Response('bad request', { status: 400, headers });
  }
  const file = normalize(join(rendererDir, path));
  const inside = relative(rendererDir, file);
  if (inside.startsWith('..') || isAbsolute(inside)) return new Response('forbidden', { status: 403, headers });
  const type = TYPES[extname(file)];
  if (!type) return new Response('not found', { status: 404, headers });
  try {
    return new Response(await readFile(file), { status: 200, headers: { ...headers, 'content-type': type } });
  } catch {
    return new Response('not found', { status: 404, headers });
  }
}
