import type { Receiving } from '../receiving';
import { useAnnouncement } from './LiveRegion';

/** What the clinician is told while this workstation cannot store the messages it receives (null: it can). */
const RECEIVING_NOTICES: Record<Receiving, string | null> = {
  ok: null,
  stalled: 'New messages can\'t be saved on this workstation right now (is its disk full?). Rounds keeps trying; nothing is lost, they wait on the server meanwhile.',
  failed: 'This workstation\'s message store is damaged or read-only, so no new messages come in. They wait safely on the server. Lock Rounds and unlock it again; if this comes back, call IT.',
};

/**
 * Receiving held up by this workstation's own storage (ReceivePipeline's `receiving` event), under the header
 * like the sign-in banner. Heard through the LiveRegion (a status when stalled, an alert when it failed), which
 * is announced even while a dialog makes the page inert; so the banner itself carries no live role.
 */
export function ReceivingBanner({ receiving }: { receiving: Receiving }) {
  const notice = RECEIVING_NOTICES[receiving];
  useAnnouncement('alert', receiving === 'failed' ? notice : null);
  useAnnouncement('status', receiving === 'stalled' ? notice : null);
  if (notice === null) return null;
  return (
    <div className={`banner ${receiving === 'failed' ? 'failure' : 'warning'}`} data-testid="receiving-banner">
      <span><strong>{receiving === 'failed' ? 'Not receiving messages.' : 'Messages held up.'}</strong> {notice}</span>
    </div>
  );
}
