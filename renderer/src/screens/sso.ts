import { useEffect, useState } from 'react';
import type { Api } from '../api';

/**
 * Sign-in with the hospital's identity provider (issue 18), the renderer's part: which provider the relay at
 * `relayUrl` offers (null: none, or this door cannot open a browser), asked again when the URL changes.
 */
export function useSsoProvider(api: Api, relayUrl: string, fixed: boolean): string | null {
  const [providerName, setProviderName] = useState<string | null>(null);
  useEffect(() => {
    const url = relayUrl.trim();
    if (!/^https?:\/\/[^/]+/.test(url)) {
      setProviderName(null);
      return undefined;
    }
    let current = true;
    // A URL being typed settles first (one the organisation fixed is asked at once); a relay that cannot be
    // reached simply offers no button.
    const timer = setTimeout(() => {
      api.call('sso.provider', { relayUrl: url }).then(({ providerName: name }) => current && setProviderName(name), () => current && setProviderName(null));
    }, fixed ? 0 : 300);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [api, relayUrl, fixed]);
  return providerName;
}

/**
 * Starts a sign-in at the provider and waits for it: the browser harness's page goes to the provider itself
 * (and comes back as a new page load, which collects the outcome with `collectSsoOutcome`); the desktop app's
 * core has opened the system browser, and the screen waits here. Resolves once signed in; rejects with why not.
 */
export async function runSsoSignIn(api: Api, start: () => Promise<{ signInId: string; authorizationUrl: string; opens: 'systemBrowser' | 'page' }>, onWaiting: () => void): Promise<void> {
  const started = await start();
  if (started.opens === 'page') {
    window.location.assign(started.authorizationUrl);
    // The page is leaving: nothing more happens here.
    await new Promise<never>(() => undefined);
  }
  onWaiting();
  await api.call('sso.finish', { signInId: started.signInId });
}

/** A page that came back from the provider (the browser harness): how the sign-in under way ended, if there is one. */
export async function collectSsoOutcome(api: Api): Promise<boolean> {
  return (await api.call('sso.finish', { abandonIfAway: true })).waited;
}
