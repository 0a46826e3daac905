import { useEffect, useId, useMemo, useRef, useState, type ReactNode } from 'react';
import type { ContactView } from '../../../shared/contract';
import type { UserId } from '../../../shared/ids';
import { useApi } from '../context';
import { initials } from '../format';
import { Field } from './Field';
import { PresenceBadge } from './PresenceBadge';
import { usePresenceDirectory } from '../presence';

/** How long typing pauses before the directory is searched. */
const SEARCH_PAUSE_MS = 150;
const SEARCH_LIMIT = 50;

/**
 * The organisation's directory, searched as the user types (name, department, job title, username), each
 * colleague with their title, department and contact line. Colleagues who have not enrolled are shown,
 * marked "Not yet reachable" and not selectable; the reason is in their accessible description. Until the
 * first answer comes, the directory the app already has is filtered by name.
 */
export function PeoplePicker({ contacts, exclude, selected, onToggle, multiple, above }: { contacts: ReadonlyMap<string, ContactView>; exclude: ReadonlySet<string>; selected: ReadonlySet<string>; onToggle: (userId: UserId) => void; multiple: boolean; above?: (query: string) => ReactNode }) {
  const api = useApi();
  const [filter, setFilter] = useState('');
  const [found, setFound] = useState<{ query: string; people: readonly ContactView[] } | null>(null);
  const unreachableId = useId();
  const query = filter.trim();

  useEffect(() => {
    let current = true;
    const timer = setTimeout(() => {
      api.call('directory.search', { query, limit: SEARCH_LIMIT })
        .then((people) => current && setFound({ query, people }))
        // The app's own copy stays on screen; the next keystroke tries again.
        .catch(() => undefined);
    }, query === '' ? 0 : SEARCH_PAUSE_MS);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [api, query]);

  const people = useMemo(() => {
    const source = found ? found.people : [...contacts.values()].filter((c) => `${c.displayName} ${c.username}`.toLowerCase().includes(query.toLowerCase()));
    // Those who can be messaged first, each group in the directory's order.
    return source.filter((c) => !exclude.has(c.userId)).sort((a, b) => Number(b.reachable) - Number(a.reachable));
  }, [found, contacts, exclude, query]);
  const stale = found !== null && found.query !== query;
  // Their statuses (issue 19): read for those on screen that the main window has not read yet.
  const presence = usePresenceDirectory();
  const shownIds = people.slice(0, 100).map((c) => c.userId).join(',');
  useEffect(() => presence.want(shownIds.split(',').filter(Boolean)), [presence, shownIds]);
  // Everyone seen so far, so that those picked stay named while the search shows others.
  const seen = useRef(new Map<string, ContactView>());
  for (const c of [...contacts.values(), ...(found?.people ?? [])]) seen.current.set(c.userId, c);
  const picked = multiple ? [...selected].map((id) => seen.current.get(id)).filter((c): c is ContactView => c !== undefined) : [];

  return (
    <div className="picker">
      {picked.length > 0 && (
        <ul className="picked" aria-label="Selected colleagues">
          {picked.map((c) => (
            <li key={c.userId}><button type="button" className="chip" aria-label={`Remove ${c.displayName}`} onClick={() => onToggle(c.userId)}>{c.displayName} <span aria-hidden="true">×</span></button></li>
          ))}
        </ul>
      )}
      <Field label={above ? 'Find a colleague or on-call role' : 'Find a colleague'} type="search" value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="Name, department or role" autoComplete="off" />
      {above?.(query)}
      <ul className="people" aria-label="Colleagues" aria-busy={stale || undefined}>
        {people.length === 0 && <li className="muted empty-people">{query ? `Nobody in the directory matches “${query}”.` : 'Everyone in the directory is already here.'}</li>}
        {people.map((c) => {
          const role = [c.jobTitle, c.department].filter(Boolean).join(' · ');
          const isSelected = selected.has(c.userId);
          return (
            <li key={c.userId}>
              <button type="button" className={`person ${isSelected ? 'selected' : ''} ${c.reachable ? '' : 'unreachable'}`}
                aria-pressed={multiple && c.reachable ? isSelected : undefined} aria-disabled={c.reachable ? undefined : true}
                aria-describedby={c.reachable ? undefined : unreachableId} onClick={() => c.reachable && onToggle(c.userId)}>
                <span className="avatar small" aria-hidden="true">{initials(c.displayName)}</span>
                <span className="person-text">
                  <span className="person-headline"><span className="person-name">{c.displayName}</span> <PresenceBadge presence={presence.of(c.userId)} quiet /></span>
                  {role && <span className="person-role">{role}</span>}
                  <span className="person-contact">{c.contact ? `${c.contact} · ` : ''}{c.username}</span>
                </span>
                {!c.reachable && <span className="not-reachable">Not yet reachable</span>}
                {multiple && c.reachable && <span className="check" aria-hidden="true">{isSelected ? '✓' : ''}</span>}
              </button>
            </li>
          );
        })}
      </ul>
      <p className={people.some((c) => !c.reachable) ? 'hint' : 'visually-hidden'} id={unreachableId}>
        “Not yet reachable”: they have not set up Rounds yet, so they cannot be messaged. You can pick them once they have enrolled.
      </p>
    </div>
  );
}
