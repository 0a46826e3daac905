import { useEffect, useState } from 'react';
import type { ConversationId } from '../../shared/ids';
import { useAnnouncement } from './components/LiveRegion';
import { acknowledger } from './components/UrgencyParts';
import { useApi } from './context';

/** An acknowledgement of one of her own urgent messages: where that message is, who acknowledged it, and its key. */
interface Acknowledged {
  readonly conversationId: ConversationId;
  readonly who: string;
  readonly key: string;
}

/**
 * Says each acknowledgement of her own urgent messages once, wherever she is in the app: the message's row (its
 * ladder) shows it, but she may be in another conversation, or behind a dialog, when it comes. An alert, each its
 * own occasion: a second acknowledgement in the same words (the same colleague, the same conversation) is news
 * again, which a status whose text does not change would leave unsaid; and it is what stops her escalation. Held by the
 * main screen, which hears every `urgency` event; `whereOf` words the conversation as the app shows its title
 * ("to Nurse Bob Okafor", "in Ward 4 bed 12"). Only the app's own text: no message body is said. What was said is
 * remembered by the core for the profile's session (`announcements.fresh`), not by the page: the desktop app reloads
 * its page on every lock, and after unlocking the next change to one of her urgent messages would otherwise say its
 * earlier acknowledgements again, heard as new ones.
 */
export function useAcknowledgementAnnouncements(whereOf: (conversationId: string, direct: string) => string): void {
  const api = useApi();
  const [saying, setSaying] = useState<readonly Acknowledged[]>([]);
  useEffect(() => {
    let live = true;
    const unsubscribe = api.subscribe((event) => {
      if (event.type !== 'urgency') return;
      const { conversationId, messageId } = event;
      // The event says only which message changed: its view says whose it is and who acknowledged it. A failed read
      // says nothing (the row, when shown, still has it).
      api.call('messages.around', { conversationId, messageId, limit: 1 }).then(({ messages }) => {
        const message = messages.find((m) => m.id === messageId);
        // Answered after the main screen went (the app locked): not said now, so not remembered as said either.
        if (!live || !message?.outgoing || !message.urgent || !message.urgency) return;
        const all = message.urgency.acknowledgements.map((a) => ({ conversationId, who: acknowledger(a), key: `${messageId} ${a.userId} ${a.at}` }));
        if (all.length === 0) return;
        // The core says which are news to this session (and from then on remembers them as said).
        return api.call('announcements.fresh', { keys: all.map((a) => a.key) }).then(({ fresh }) => {
          const saying = all.filter((a) => fresh.includes(a.key));
          if (live && saying.length > 0) setSaying(saying);
        });
      }).catch(() => undefined);
    });
    return () => {
      live = false;
      unsubscribe();
    };
  }, [api]);
  useAnnouncement('alert', saying.length === 0 ? null : saying.map((a) => `Your urgent message ${whereOf(a.conversationId, 'to')} was acknowledged by ${a.who}.`).join(' '), saying.map((a) => a.key).join(' '));
}
