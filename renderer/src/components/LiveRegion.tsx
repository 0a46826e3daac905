import { createPortal } from 'react-dom';

/** Marks the page's live region, which a modal leaves out of what it makes inert (useModalFocus). */
export const LIVE_REGION_ATTRIBUTE = 'data-live-region';

/**
 * What the main window says out loud as it happens: `alerts` (an urgent message, receiving failed) and `statuses`
 * (a notice, receiving held up), each a slot that is null while it has nothing to say. Drawn
 * outside the app root (a portal), which is inert while a dialog or the attachment viewer is open, and inert content
 * is not announced: here an urgent message that arrives then is still heard. Seen, the same news is in the notices
 * in the page, with their buttons; this region is only heard, so it says each thing once.
 */
export function LiveRegion({ alerts, statuses }: { alerts: readonly (string | null)[]; statuses: readonly (string | null)[] }) {
  return createPortal(
    <div className="visually-hidden" {...{ [LIVE_REGION_ATTRIBUTE]: '' }}>
      {/* An alert is announced as it is inserted; a status region must be there before its text changes. */}
      {alerts.map((alert, i) => alert && <p key={`alert ${i}`} role="alert">{alert}</p>)}
      {/* One status region per kind of notice, always there: each says its own. */}
      {statuses.map((status, i) => <p key={`status ${i}`} role="status">{status}</p>)}
    </div>,
    document.body,
  );
}
