import { PRESENCE_LABELS, describePresence, type Presence, type PresenceStatus } from '../../../shared/wire/presence';
import { formatTime } from '../format';

/** A shape per status, so that it never rests on colour alone (the words are always beside it). */
const SYMBOL: Readonly<Record<PresenceStatus, string>> = {
  available: '●',
  busy: '◆',
  inProcedure: '✚',
  offShift: '○',
  doNotDisturb: '⊘',
};

/** Whether a status says anything a list should show (anything but Available without a note). */
export const worthShowing = (presence: Presence | undefined): presence is Presence => presence !== undefined && (presence.status !== 'available' || presence.note !== null);

/** "Off shift until 18:00 · Back Monday", in the workstation's time. */
export const presenceText = (presence: Pick<Presence, 'status' | 'note' | 'until'>): string => describePresence(presence, formatTime);

/**
 * A colleague's status as a small labelled mark: its shape and its words ("Off shift"), the end time and note in
 * its tooltip and accessible description. `quiet`: nothing at all for Available without a note (lists stay calm).
 */
export function PresenceBadge({ presence, quiet = false, detailed = false }: { presence: Presence | undefined; quiet?: boolean; detailed?: boolean }) {
  if (!presence || (quiet && !worthShowing(presence))) return null;
  const full = presenceText(presence);
  return (
    <span className={`presence presence-${presence.status}`} title={full}>
      <span className="presence-symbol" aria-hidden="true">{SYMBOL[presence.status]}</span>
      <span className="presence-label">{detailed ? full : PRESENCE_LABELS[presence.status]}</span>
      {!detailed && full !== PRESENCE_LABELS[presence.status] && <span className="visually-hidden">{full.slice(PRESENCE_LABELS[presence.status].length)}</span>}
    </span>
  );
}
