/**
 * The Content-Security-Policy of every response that serves the renderer: only the app's own scripts,
 * styles and images, no inline script, no eval, no frames, no plugins. `connect-src` is the one
 * directive that differs between the doors: none in the Electron window (the core is reached over IPC),
 * the page's own origin in the browser harness (its bridge is a WebSocket to that origin).
 */
export function contentSecurityPolicy(connectSrc: "'none'" | "'self'"): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src ${connectSrc}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

/** The app's own CSP (app:// in the Electron window): no network at all. */
export const CONTENT_SECURITY_POLICY = contentSecurityPolicy("'none'");
