import { useCallback, useEffect, useState } from 'react';
import type { SessionState, SettingsView } from '../../shared/contract';
import type { Api } from './api';
import { useActivityReports } from './activity';
import { useClipboardReports } from './clipboard';
import { fromSession, nextConnection, type Connection } from './connection';
import { ApiContext } from './context';
import { LiveRegion } from './components/LiveRegion';
import { nextReceiving, type Receiving } from './receiving';
import { Enroll } from './screens/Enroll';
import { LockScreen, ProfileChooser } from './screens/Lock';
import { Main } from './screens/Main';
import { forgetPreviews } from './attachments/SharpPreview';

/**
 * The whole app follows the core's session state. Locked or signed out, only the lock screen (or the
 * first-run screens) is rendered: the main window and everything it held leave the DOM at once.
 */
export function App({ api }: { api: Api }) {
  const [state, setState] = useState<SessionState | null>(null);
  const [settings, setSettings] = useState<SettingsView | null>(null);
  const [adding, setAdding] = useState(false);
  const [connection, setConnection] = useState<Connection | null>(null);
  const [receiving, setReceiving] = useState<Receiving>('ok');

  const refresh = useCallback(async () => {
    const initial = await api.call('session.state', {});
    setState(initial);
    setConnection((current) => fromSession(initial, current));
    setSettings(await api.call('settings.get', {}));
  }, [api]);

  // Subscribed before the first command goes out, so no event is missed, whatever renders when.
  useEffect(() => {
    const unsubscribe = api.subscribe((event) => {
      setConnection((current) => nextConnection(current, event));
      setReceiving((current) => nextReceiving(current, event));
      if (event.type === 'session') {
        setState(event.state);
        if (event.state.phase !== 'signedOut') setAdding(false);
        // Some settings belong to the open profile (how its key is kept): read them again.
        void api.call('settings.get', {}).then(setSettings).catch(() => undefined);
      }
    });
    void refresh();
    return unsubscribe;
  }, [api, refresh]);

  // Photos decoded for the conversation go when the session is locked or signed out of.
  const unlocked = state?.phase === 'unlocked';
  useEffect(() => {
    if (!unlocked) forgetPreviews();
  }, [unlocked]);

  useActivityReports(api, state?.phase === 'unlocked');
  useClipboardReports(api, state?.phase === 'unlocked');

  if (!state || !settings) return <div className="splash" aria-busy="true"><span className="brand">Rounds</span></div>;

  let screen;
  if (state.phase === 'unlocked') screen = <Main state={state} connection={connection ?? 'connecting'} receiving={receiving} settings={settings} onSettings={setSettings} />;
  else if (state.phase === 'locked') screen = <LockScreen state={state} />;
  else if (state.profiles.length === 0 || adding) screen = <Enroll policyRelayUrl={settings.policyRelayUrl} onCancel={state.profiles.length > 0 ? () => setAdding(false) : undefined} />;
  else screen = <ProfileChooser profiles={state.profiles} onAdd={() => setAdding(true)} />;

  // The live region is drawn anew for each open profile and each screen without one: locking takes what it was
  // saying (an urgent message's conversation, a colleague's name) out of the DOM in the same update as the main
  // screen, not a moment later when each announcing component's clean-up runs.
  const session = state.phase === 'unlocked' ? `unlocked ${state.profile.id}` : state.phase;
  return <ApiContext.Provider value={api}><LiveRegion key={session}>{screen}</LiveRegion></ApiContext.Provider>;
}
