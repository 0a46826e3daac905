import { useEffect } from 'react';
import { useApi } from '../context';
import { collectSsoOutcome, runSsoSignIn, useSsoProvider } from '../screens/sso';
import { useAction } from '../useAction';
import { useAnnouncement } from './LiveRegion';

/**
 * The relay asks this workstation to sign in at the hospital's identity provider again (REAUTHENTICATION_REQUIRED,
 * every few days by the organisation's policy; issue 18): say so, and offer the sign-in. Messages written
 * meanwhile wait in the outbox. A page back from the provider (the browser harness) shows how it ended here.
 */
export function SignInAgainBanner({ relayUrl, asked }: { relayUrl: string; asked: boolean }) {
  const api = useApi();
  const providerName = useSsoProvider(api, relayUrl, true);
  const { busy, error, run } = useAction();
  useEffect(() => {
    void run(() => collectSsoOutcome(api));
    // Once, when the main screen opens (`run` is new on every render).
  }, [api]);
  const text = error ?? 'Your organisation asks you to sign in again. Messages you write are kept and sent once you have.';
  const shown = asked || error !== null;
  // Heard through the LiveRegion, also while a dialog makes the page inert; the banner itself carries no live role.
  useAnnouncement('alert', shown ? text : null);
  if (!shown) return null;
  const signIn = () => void run(() => runSsoSignIn(api, () => api.call('sso.signInAgain', {}), () => undefined));
  return (
    <div className="banner warning">
      <span>{text}</span>
      <button type="button" className="primary" disabled={busy} onClick={signIn}>{busy ? 'Waiting for the sign-in…' : `Sign in with ${providerName ?? 'your organisation'}`}</button>
    </div>
  );
}
