import type { DirectoryEntry } from '../../shared/wire/relay';
import { MAX_DIRECTORY_SEARCH_LIMIT } from '../../shared/wire/directory';
import { directoryListing } from '../directory/provisioning';
import type { DirectoryListing, RelayStore } from '../storage/RelayStore';

/**
 * GET /v1/directory for a signed-in device: colleagues with their directory fields and active devices;
 * those still to enroll too, with no devices (the app shows them as not yet reachable). With a query (`q`,
 * `limit`), the directory search's matches (RelayStore.searchDirectory); without, everyone.
 */
export async function directoryEntries(store: RelayStore, now: number, query: { q?: string | undefined; limit?: number | undefined }): Promise<DirectoryEntry[]> {
  const devices = await store.activeDevicesByUser(now);
  const listings: DirectoryListing[] = query.q === undefined && query.limit === undefined
    ? (await store.listUsers()).filter((user) => user.status === 'active' || user.status === 'pending').map(directoryListing)
    : await store.searchDirectory(query.q ?? '', query.limit ?? MAX_DIRECTORY_SEARCH_LIMIT);
  return listings.flatMap((user) => (user.status === 'deactivated' ? [] : [{
    userId: user.id, username: user.username, displayName: user.displayName, role: user.role,
    devices: user.status === 'active' ? devices.get(user.id) ?? [] : [],
    department: user.department, jobTitle: user.jobTitle, contact: user.contact, status: user.status,
  }]));
}
