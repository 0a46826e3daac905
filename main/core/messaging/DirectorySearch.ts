import type { ContactView } from '../../../shared/contract';
import { foldForSearch } from '../../../shared/wire/directory';
import type { DirectoryEntry } from '../../../shared/wire/relay';
import type { ConversationStore } from '../storage/ConversationStore';
import { RelayRequestError, type RelayClient } from './RelayClient';

/** A directory entry as the UI shows it: its devices reduced to whether there is one to send to. */
export function contactView(entry: DirectoryEntry): ContactView {
  const { devices, ...rest } = entry;
  return { ...rest, reachable: devices.length > 0 };
}

/**
 * The relay's directory search (name, username, department, job title), its names kept for offline titles.
 * Offline (the relay unreachable or refusing), the last copy of the directory, matched on names only and
 * counted as reachable (the outbox finds out when it sends).
 */
export async function searchDirectory(relay: RelayClient, conversations: ConversationStore, query: string, limit: number, now: number): Promise<ContactView[]> {
  try {
    const { users } = await relay.searchDirectory(query, limit);
    conversations.saveContacts(users, now);
    return users.map(contactView);
  } catch (error) {
    if (!(error instanceof RelayRequestError)) throw error;
    const wanted = foldForSearch(query.trim());
    return conversations.contacts()
      .filter((c) => foldForSearch(`${c.displayName}\n${c.username}`).includes(wanted))
      .slice(0, limit)
      .map((c) => ({ ...c, reachable: true }));
  }
}
