import { useEffect } from 'react';
import { forwards } from '../../../shared/wire/presence';
import { usePresenceDirectory } from '../presence';
import { PresenceBadge } from './PresenceBadge';

/**
 * The conversation header's line about the other person's status (issue 19), read again when the
 * conversation opens: "Off shift until 18:00 · Back Monday", and "Your messages also go to Dr. Patel".
 * Announced politely when it changes.
 */
export function PeerStatus({ userId, nameOf }: { userId: string; nameOf: (userId: string) => string }) {
  const directory = usePresenceDirectory();
  const { refresh } = directory;
  useEffect(() => refresh(), [refresh, userId]);
  const presence = directory.of(userId);
  const forwardTo = presence?.forwardTo?.kind === 'user' ? nameOf(presence.forwardTo.userId) : null;
  return (
    <p className="peer-status" role="status" aria-live="polite">
      {presence && <PresenceBadge presence={presence} detailed />}
      {forwardTo && presence && forwards(presence.status) && <span className="forward-note">Your messages also go to {forwardTo}</span>}
    </p>
  );
}
