import { useCallback, useState } from 'react';
import type { ContactIdentityView } from '../../shared/contract';
import type { UserId } from '../../shared/ids';
import { useAnnouncement } from './components/LiveRegion';
import { trustWords } from './components/TrustBanner';

/** A colleague's changed identity awaiting review, as one answer of `contacts.identities` shows it. */
export interface IdentityChange {
  readonly userId: UserId;
  /** Which of their workstations changed, how and when: a later change is news again. */
  readonly change: string;
}

/** The change awaiting review among `identities` (one colleague's), or null when there is none. */
export function identityChange(userId: UserId, identities: readonly ContactIdentityView[]): IdentityChange | null {
  const pending = identities.filter((i) => i.changePending !== null).map((i) => `${JSON.stringify(i.address)} ${i.changePending} ${i.changeDetectedAt}`);
  return pending.length === 0 ? null : { userId, change: pending.sort().join(' ') };
}

const key = (c: IdentityChange) => `${c.userId} ${c.change}`;

interface Said {
  /** Every change said since the main screen opened (by `key`). */
  readonly heard: ReadonlySet<string>;
  /** What the alert says now: the changes last news, while they await review. */
  readonly saying: readonly IdentityChange[];
}

/**
 * Says each changed identity once, as an alert: her own new workstation while one awaits review (`ownChanged`), and
 * each colleague's change the first time a conversation's check finds it. Held by the main screen, which stays while
 * conversations are drawn anew on every switch (each would otherwise say its banners again). Returns what a
 * conversation reports its check's answer to: the changes awaiting review among its people.
 */
export function useTrustAnnouncements(ownChanged: boolean, nameOf: (userId: UserId) => string | null): (changes: readonly IdentityChange[]) => void {
  const [said, setSaid] = useState<Said>({ heard: new Set(), saying: [] });
  const report = useCallback((changes: readonly IdentityChange[]) => setSaid((old) => {
    const fresh = changes.filter((c) => !old.heard.has(key(c)));
    if (fresh.length > 0) return { heard: new Set([...old.heard, ...fresh.map(key)]), saying: fresh };
    // Nothing new: what was said goes once reviewed (or out of view); it is not said again when it comes back.
    const pending = new Set(changes.map(key));
    const saying = old.saying.filter((c) => pending.has(key(c)));
    return saying.length === old.saying.length ? old : { ...old, saying };
  }), []);
  useAnnouncement('alert', ownChanged ? trustWords(true, null).join(' ') : null);
  useAnnouncement('alert', said.saying.length === 0 ? null : said.saying.map((c) => trustWords(false, nameOf(c.userId)).join(' ')).join(' '));
  return report;
}
