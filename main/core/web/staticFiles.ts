import { readFile } from 'node:fs/promises';
import { extname, isAbsolute, join, normalize, relative } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

/**
 * The built renderer's files, as the app:// protocol and the browser harness serve them: every response
 * with the given Content-Security-Policy; paths that escape `rootDir` and unknown file types get an error
 * status, never a file. `generated` answers some paths with content made in memory. Electron-free.
 */
export async function serveStatic(rootDir: string, pathname: string, csp: string, generated: Readonly<Record<string, string>> = {}): Promise<Response> {
  const headers = { 'content-security-policy': csp, 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' };
  let path: string;
  try {
    path = decodeURIComponent(pathname === '/' ? '/index.html' : pathname);
  } catch {
    return new Response('bad request', { status: 400, headers });
  }
  const type = TYPES[extname(path)];
  const made = generated[path];
  if (made !== undefined && type) return new Response(made, { status: 200, headers: { ...headers, 'content-type': type } });
  const file = normalize(join(rootDir, path));
  const inside = relative(rootDir, file);
  if (inside.startsWith('..') || isAbsolute(inside)) return new Response('forbidden', { status: 403, headers });
  if (!type) return new Response('not found', { status: 404, headers });
  try {
    return new Response(await readFile(file), { status: 200, headers: { ...headers, 'content-type': type } });
  } catch {
    return new Response('not found', { status: 404, headers });
  }
}
