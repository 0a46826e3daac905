import { createContext, useCallback, useContext, useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { createPortal } from 'react-dom';

/** Marks the page's live region, which a modal leaves out of what it makes inert (useModalFocus). */
export const LIVE_REGION_ATTRIBUTE = 'data-live-region';

/** How a piece of news is heard: an alert interrupts (an urgent message, receiving failed), a status waits its turn. */
export type Urgency = 'alert' | 'status';

/** How long a new status region is on the page, empty, before its text goes in: time for the accessibility tree to have it. */
const STATUS_SETTLE_MS = 100;

interface Slot {
  readonly urgency: Urgency;
  /** What it says now; null while it has nothing to say. */
  readonly text: string | null;
  /** What the news is about (an alert): a new one is said again, even in the same words. */
  readonly occasion: string;
}

/** Sets what one slot says (null: the slot is gone, its component unmounted). */
type Say = (slot: string, said: Slot | null) => void;

const SayContext = createContext<Say | null>(null);

/**
 * What the app says out loud as it happens, for everything inside it: each component with news a clinician must
 * hear (an urgent message, the connection, a changed safety number, a colleague's status) holds a slot here through
 * useAnnouncement. Drawn outside the app root (a portal), which is inert while a dialog or the attachment viewer is
 * open, and inert content is not announced: here what happens then is still heard. Seen, the same news is in the
 * page, with its buttons, and carries no live role there: this region is only heard, so each thing is said once.
 */
export function LiveRegion({ children }: { children: ReactNode }) {
  const [slots, setSlots] = useState<ReadonlyMap<string, Slot>>(new Map());
  const say = useCallback<Say>((slot, said) => setSlots((old) => {
    const was = old.get(slot);
    if (said ? was?.urgency === said.urgency && was.text === said.text && was.occasion === said.occasion : !was) return old;
    const next = new Map(old);
    if (said) next.set(slot, said);
    else next.delete(slot);
    return next;
  }), []);
  // A status region must be on the page, empty, before its text comes (some screen readers skip a status whose region
  // appears with its text): a new status slot is drawn empty, and its text goes in a moment later (a timer, not the next
  // animation frame, which a hidden window never draws). Alerts, said as they are inserted, wait for nothing.
  const [ready, setReady] = useState<ReadonlySet<string>>(new Set());
  // Each new status slot's own timer: other slots' changes meanwhile neither restart nor cancel it.
  const waiting = useRef(new Map<string, ReturnType<typeof setTimeout>>());
  useEffect(() => {
    for (const [slot, { urgency }] of slots) {
      if (urgency !== 'status' || ready.has(slot) || waiting.current.has(slot)) continue;
      waiting.current.set(slot, setTimeout(() => {
        waiting.current.delete(slot);
        setReady((old) => new Set([...old, slot]));
      }, STATUS_SETTLE_MS));
    }
    for (const [slot, timer] of waiting.current) {
      if (slots.has(slot)) continue;
      clearTimeout(timer);
      waiting.current.delete(slot);
    }
    if ([...ready].some((slot) => !slots.has(slot))) setReady((old) => new Set([...old].filter((slot) => slots.has(slot))));
  }, [slots, ready]);
  useEffect(() => {
    const timers = waiting.current;
    return () => {
      for (const timer of timers.values()) clearTimeout(timer);
      // Forgotten too: mounted again (React's strict mode does), the slots get timers anew.
      timers.clear();
    };
  }, []);
  return (
    <SayContext.Provider value={say}>
      {children}
      {createPortal(
        <div className="visually-hidden" {...{ [LIVE_REGION_ATTRIBUTE]: '' }}>
          {[...slots].map(([slot, { urgency, text, occasion }]) => urgency === 'alert'
            // An alert is announced as it is inserted (so a new occasion inserts it anew); a status region must be
            // there before its text changes, so it is there, empty, from its component's first render on, and its
            // text waits a moment (`ready`).
            ? text && <p key={`${slot} alert ${occasion}`} role="alert">{text}</p>
            : <p key={`${slot} status`} role="status">{ready.has(slot) ? text : null}</p>)}
        </div>,
        document.body,
      )}
    </SayContext.Provider>
  );
}

/**
 * Has the page's live region say `text` (nothing while null) as an alert or a status, for as long as the calling
 * component is mounted, and again whenever it changes; an alert also when its `occasion` changes (a reminder of the
 * same news). What the component shows carries no live role of its own.
 */
export function useAnnouncement(urgency: Urgency, text: string | null, occasion = ''): void {
  const say = useContext(SayContext);
  if (!say) throw new Error('useAnnouncement is used outside a LiveRegion: what it says would never be heard');
  const slot = useId();
  useEffect(() => say(slot, { urgency, text, occasion }), [say, slot, urgency, text, occasion]);
  useEffect(() => () => say(slot, null), [say, slot]);
}
