import { describe, expect, it } from 'vitest';
import { virtualScheduler } from '../../../test/fixtures/virtualScheduler';
import { LoopbackRedirect } from './LoopbackRedirect';
import { newPkcePair } from './pkce';
import { createHash } from 'node:crypto';

/*
 * Issue 18: the app's loopback listener for the identity provider's redirect (RFC 8252), driven with real HTTP
 * requests as a browser would send them.
 */
describe('the loopback redirect of a sign-in with the identity provider', () => {
  it('takes the redirect carrying its state, shows a page that says to go back to Rounds, and closes', async () => {
    const listener = await LoopbackRedirect.listen();
    const uri = new URL(listener.redirectUri);
    // Until the relay's state is known, nothing is taken.
    expect((await fetch(`${listener.redirectUri}?code=early&state=state-1`)).status).toBe(404);
    const result = listener.expect('state-1');
    expect(uri.hostname).toBe('127.0.0.1');
    expect(Number(uri.port)).toBeGreaterThan(0);
    expect(uri.pathname).toMatch(/^\/rounds\/sso\/[\w-]{12}$/);
    // A favicon, another path and a wrong state are ignored: they neither finish nor end the sign-in.
    for (const other of [`http://127.0.0.1:${uri.port}/favicon.ico`, `http://127.0.0.1:${uri.port}/rounds/sso/guess?code=c&state=state-1`, `${listener.redirectUri}?code=stolen&state=another`]) {
      expect((await fetch(other)).status).toBe(404);
    }
    const page = await fetch(`${listener.redirectUri}?code=the-code&state=state-1&iss=${encodeURIComponent('https://idp.hospital.example')}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(await page.text()).toContain('You can close this tab');
    expect(await result).toEqual({ kind: 'code', code: 'the-code', state: 'state-1', iss: 'https://idp.hospital.example' });
    await expect(fetch(`${listener.redirectUri}?code=again&state=state-1`)).rejects.toThrow();
  });

  it('reports the provider refusing (error=access_denied) as a refusal, with its description', async () => {
    const listener = await LoopbackRedirect.listen();
    void listener.expect('s');
    const page = await fetch(`${listener.redirectUri}?error=access_denied&error_description=${encodeURIComponent('User is disabled')}&state=s`);
    expect(await page.text()).toContain('Sign-in was not completed');
    expect(await listener.result).toEqual({ kind: 'refused', error: 'access_denied', description: 'User is disabled' });
  });

  it('gives up after its time, or when cancelled, and stops listening', async () => {
    const scheduler = virtualScheduler();
    const late = await LoopbackRedirect.listen({ timeoutMs: 60_000, scheduler });
    scheduler.advance(60_000);
    await expect(late.result).rejects.toMatchObject({ code: 'SSO_TIMED_OUT' });
    await expect(fetch(`${late.redirectUri}?code=c&state=s`)).rejects.toThrow();
    const cancelled = await LoopbackRedirect.listen();
    cancelled.cancel();
    await expect(cancelled.result).rejects.toMatchObject({ code: 'SSO_CANCELLED' });
  });

  it('makes a fresh PKCE pair each time, the challenge the S256 of the verifier', async () => {
    const [a, b] = [await newPkcePair(), await newPkcePair()];
    expect(a.verifier).not.toBe(b.verifier);
    expect(a.verifier).toMatch(/^[\w-]{43,128}$/);
    expect(a.challenge).toBe(createHash('sha256').update(a.verifier).digest('base64url'));
  });
});
